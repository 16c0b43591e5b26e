//! Bump scenarios: every path a bump process can die on.
//!
//! Every scenario runs on a 1 MiB arena with [`CHUNK`]-byte chunks, so
//! that refills, blocks larger than a chunk and transitions are reached in
//! a few operations. Before the victim starts, the survivor allocates
//! [`KEPT`] blocks and takes a mark, which retires its chunk and gives the
//! chunk's tail back: the survivor then holds no chunk bytes, and every
//! byte below the cursor is a block or the victim's.
//!
//! The survivor verifies each state with [`verify`](World::verify):
//! reclaim (twice: the second finds nothing) and check; every block that
//! must live (the survivor's, and each the victim noted, unless the
//! victim had begun a reset or rewind that releases it) is live with its
//! bytes; the accounting: bytes in use (`stats().used`) minus the bytes of
//! live blocks and headers (`check().used_bytes`) are bytes nobody holds,
//! counted as lost; then it allocates again, resets, and allocates the
//! whole pool in one block.
//!
//! Notes: `block X` (the victim allocated and stamped X), `releasing 0`
//! (a reset or rewind of the victim's may be under way: blocks noted
//! before it and the survivor's may be stale).

use super::notes::{self, Notes};
use super::{engine, pool, Ended, Note, Outcome, Scenario, World};
use crate::harness::{self, Exit};
use sharena::{Bump, Error, Offset, Recover, ShmAllocator};

/// Segment size.
const SIZE: u64 = 1 << 20;
/// Chunk size (`params[0]`).
const CHUNK: u64 = 512;
/// Blocks the survivor keeps.
const KEPT: usize = 4;
/// Bytes of the survivor's blocks.
const KEPT_LEN: u64 = 48;

/// A victim's body: its own handle, `arm` (already called unless the
/// scenario explores attach), the notes.
type Body = fn(&Bump, &mut Notes) -> Result<(), String>;

struct Bu {
    name: &'static str,
    /// Whether `attach` itself is explored (`arm` before `open`).
    arm_first: bool,
    /// A first victim that dies (SIGKILL) holding a chunk and blocks
    /// before the victim starts.
    first_victim: bool,
    body: Body,
}

struct BuWorld {
    arena: Bump,
    mine: Vec<Offset>,
    /// Blocks the first victim left.
    first: Vec<Offset>,
    arm_first: bool,
    body: Body,
}

impl Scenario for Bu {
    fn kind(&self) -> &'static str {
        "bump"
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn setup(&self, seg: &str) -> Result<Box<dyn World>, String> {
        let opts = Bump::options(SIZE).map_err(err)?.param(0, CHUNK);
        let arena = Bump::create_with_options(seg, &opts).map_err(err)?;
        let mut mine = Vec::new();
        for _ in 0..KEPT {
            let at = arena.alloc(KEPT_LEN).map_err(err)?;
            arena.write(at, &stamp(at, KEPT_LEN)).map_err(err)?;
            mine.push(at);
        }
        // Retires the survivor's chunk; its tail goes back (it is the last
        // reservation).
        arena.mark().map_err(err)?;
        let first = if self.first_victim {
            first_victim(seg)?
        } else {
            Vec::new()
        };
        Ok(Box::new(BuWorld {
            arena,
            mine,
            first,
            arm_first: self.arm_first,
            body: self.body,
        }))
    }
}

/// A process that opens the arena, allocates and is killed holding its
/// chunk; returns its blocks.
fn first_victim(seg: &str) -> Result<Vec<Offset>, String> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let seg = seg.to_string();
    let mut wr = Some(wr);
    let slot = &mut wr;
    // SAFETY: the explorer's process has one thread (`explore`'s contract,
    // under which `setup` runs).
    let pid = unsafe {
        harness::fork_child(|| {
            let Some(fd) = slot.take() else { return 2 };
            let mut n = Notes::new(fd);
            let Ok(h) = Bump::open(&seg) else { return 3 };
            for _ in 0..5 {
                if alloc(&h, 40, &mut n).is_err() {
                    return 4;
                }
            }
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            5
        })
    }
    .map_err(|e| format!("fork: {e}"))?;
    drop(wr);
    match harness::wait(pid) {
        Exit::Signaled(nix::sys::signal::Signal::SIGKILL) => {}
        other => return Err(format!("the first victim {other}")),
    }
    let mut text = String::new();
    let got = notes::read_all(rd, &mut text);
    Ok(notes::tagged(&got, "block").map(Offset::new).collect())
}

/// The bytes a block at `at` of `len` bytes is stamped with.
fn stamp(at: Offset, len: u64) -> Vec<u8> {
    (0..len).map(|i| (at.get() + i) as u8).collect()
}

/// Allocates `len` bytes, stamps them and notes the block.
fn alloc(h: &Bump, len: u64, n: &mut Notes) -> Result<Offset, String> {
    let at = h.alloc(len).map_err(err)?;
    h.write(at, &stamp(at, len)).map_err(err)?;
    n.note("block", at.get());
    Ok(at)
}

impl World for BuWorld {
    fn victim(
        &mut self,
        seg: &str,
        arm: &mut dyn FnMut(),
        notes: &mut Notes,
    ) -> Result<(), String> {
        if self.arm_first {
            arm();
        }
        let h = Bump::open(seg).map_err(err)?;
        if !self.arm_first {
            arm();
        }
        (self.body)(&h, notes)
    }

    fn verify(&mut self, notes: &[Note], _ended: Ended) -> Outcome {
        engine::guarded(|out| {
            let a = &*self.arena;
            pool::reclaim_and_check(a, out);
            let released = notes.iter().position(|n| n.tag == "releasing");
            // The survivor's and the first victim's blocks, and the
            // victim's noted before any release began, must be live.
            let mut must: Vec<(Offset, &str)> = Vec::new();
            if released.is_none() {
                must.extend(self.mine.iter().map(|&o| (o, "the survivor's")));
                must.extend(self.first.iter().map(|&o| (o, "the first victim's")));
            }
            for (i, n) in notes.iter().enumerate() {
                if n.tag == "block" && released.is_none_or(|r| i > r) {
                    must.push((Offset::new(n.value), "the victim's"));
                }
            }
            for (at, whose) in must {
                // The usable size is the written length rounded up to 8:
                // its first `len - 7` bytes were written.
                match a.usable_size(at) {
                    Ok(len) => match a.read(at, len.saturating_sub(7).max(1)) {
                        Ok(b) if b == stamp(at, b.len() as u64) => {}
                        Ok(_) => {
                            out.problem(format!("{}: {whose} block's bytes changed", at.get()));
                        }
                        Err(e) => out.problem(format!("{}: read {whose} block: {e}", at.get())),
                    },
                    Err(e) => out.problem(format!("{}: {whose} block was lost: {e}", at.get())),
                }
            }
            account(a, out);
            // Not stuck: small blocks, a large one, then a reset and the
            // whole pool at once.
            for len in [8, 64, 2 * CHUNK, 8] {
                if let Err(e) = a.alloc(len) {
                    out.stuck(format!("alloc({len}) after the crash: {e}"));
                }
            }
            match a.reset() {
                Ok(_) => {}
                Err(e) => out.stuck(format!("reset after the crash: {e}")),
            }
            let whole = a.stats().capacity.saturating_sub(8);
            if let Err(e) = a.alloc(whole) {
                out.stuck(format!("the whole pool ({whole} B) after a reset: {e}"));
            }
            pool::check(a, out, "after the reset");
        })
    }
}

/// Bytes in use that are in no live block (nor its header) are held by
/// nobody: the survivor holds no chunk (its mark retired it) and the
/// victim is gone.
fn account(a: &(impl Recover + ShmAllocator + ?Sized), out: &mut Outcome) {
    let used = a.stats().used;
    match a.check() {
        Ok(r) => {
            let lost = used.saturating_sub(r.used_bytes);
            if lost > 0 {
                out.lost_bytes += lost;
                out.problem(format!(
                    "{lost} of {used} bytes in use are in no block (a chunk tail nobody holds)"
                ));
            }
            if r.used_bytes > used {
                out.problem(format!(
                    "blocks hold {} bytes, more than the {used} in use",
                    r.used_bytes
                ));
            }
        }
        Err(e) => out.problem(format!("check: {e}")),
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(err)`
fn err(e: Error) -> String {
    e.to_string()
}

#[allow(clippy::unnecessary_wraps)] // a `Body`
fn nothing(_: &Bump, _: &mut Notes) -> Result<(), String> {
    Ok(())
}

fn small(h: &Bump, n: &mut Notes) -> Result<(), String> {
    for len in [8, 24, 40] {
        alloc(h, len, n)?;
    }
    Ok(())
}

fn refill(h: &Bump, n: &mut Notes) -> Result<(), String> {
    // 13 blocks of 100 (+8) bytes: four chunks of 512.
    for _ in 0..13 {
        alloc(h, 100, n)?;
    }
    Ok(())
}

fn large(h: &Bump, n: &mut Notes) -> Result<(), String> {
    alloc(h, 16, n)?;
    alloc(h, 3 * CHUNK, n)?;
    alloc(h, 16, n)?;
    Ok(())
}

fn reset(h: &Bump, n: &mut Notes) -> Result<(), String> {
    alloc(h, 64, n)?;
    n.note("releasing", 0);
    h.reset().map_err(err)?;
    alloc(h, 64, n)?;
    Ok(())
}

fn mark_rewind(h: &Bump, n: &mut Notes) -> Result<(), String> {
    alloc(h, 64, n)?;
    let m = h.mark().map_err(err)?;
    alloc(h, 64, n)?;
    alloc(h, 600, n)?;
    n.note("releasing", 0);
    h.rewind(m).map_err(err)?;
    alloc(h, 32, n)?;
    Ok(())
}

fn reclaim(h: &Bump, _: &mut Notes) -> Result<(), String> {
    h.reclaim_dead().map_err(err)?;
    Ok(())
}

/// The bump scenarios.
pub fn scenarios() -> Vec<&'static dyn Scenario> {
    static ALL: [Bu; 8] = [
        Bu {
            name: "attach-detach",
            arm_first: true,
            first_victim: false,
            body: nothing,
        },
        Bu {
            name: "small",
            arm_first: false,
            first_victim: false,
            body: small,
        },
        Bu {
            name: "chunk-refill",
            arm_first: false,
            first_victim: false,
            body: refill,
        },
        Bu {
            name: "large-block",
            arm_first: false,
            first_victim: false,
            body: large,
        },
        Bu {
            name: "reset",
            arm_first: false,
            first_victim: false,
            body: reset,
        },
        Bu {
            name: "mark-rewind",
            arm_first: false,
            first_victim: false,
            body: mark_rewind,
        },
        Bu {
            name: "attach-after-death",
            arm_first: true,
            first_victim: true,
            body: small,
        },
        Bu {
            name: "reclaim-dead",
            arm_first: false,
            first_victim: true,
            body: reclaim,
        },
    ];
    ALL.iter().map(|s| s as &dyn Scenario).collect()
}
