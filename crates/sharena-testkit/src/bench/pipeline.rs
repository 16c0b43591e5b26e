//! The `pipeline` workload (docs/WORKLOADS.md): one producer process and
//! three consumers move 64-byte records, every one verified.
//!
//! - `queue`: the producer allocates each record in a shared free list,
//!   stamps it, shares it and pushes its offset on a `sharena::Queue`; a
//!   consumer pops the offset, verifies the record in place and frees it.
//!   Nothing is copied.
//! - `pipe`: the producer writes each record into a pipe (one `write` of
//!   64 bytes, atomic below `PIPE_BUF`); the consumers `read` 64 bytes each.
//! - `unix-socket`: the same over a Unix datagram socket pair (one
//!   message per record).
//!
//! Each record is 8 words: its sequence number, then 7 words derived from
//! it. A consumer counts the records it verified (`ops`), the ones that
//! failed (`errors`), and sums the sequence numbers it saw (extra word 0);
//! the run fails unless every record was verified once: the counts add up
//! to N and the sums to N(N-1)/2. After the last record the producer sends
//! one end mark per consumer. Rate: records per second, N / wall.

use super::harness::{run_forked, ChildOut, Ctl, RunOut};
use sharena::{FreeList, Queue, Recover, ShmAllocator};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// Consumer processes (the producer is child 0).
pub const CONSUMERS: usize = 3;
/// Bytes per record.
const RECORD: usize = 64;
/// The end mark (no record has this sequence number).
const END: u64 = u64::MAX;
/// Slots of the shared queue.
const QUEUE_SLOTS: u64 = 1024;
/// The shared free list's segment.
const SEGMENT: u64 = 64 << 20;
/// The longest a push or pop waits before the run counts an error.
const PATIENCE: Duration = Duration::from_secs(30);

fn record(seq: u64) -> [u8; RECORD] {
    let mut out = [0u8; RECORD];
    let mut x = seq;
    for (i, w) in out.chunks_exact_mut(8).enumerate() {
        if i > 0 {
            x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i as u64;
        }
        w.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// The sequence number of a record, if every word of it checks.
fn verify(bytes: &[u8; RECORD]) -> Option<u64> {
    let seq = u64::from_le_bytes(bytes[..8].try_into().ok()?);
    (record(seq) == *bytes).then_some(seq)
}

/// What a consumer tallies.
#[derive(Default)]
struct Tally {
    ok: u64,
    bad: u64,
    sum: u64,
}

impl Tally {
    fn take(&mut self, bytes: &[u8; RECORD]) {
        match verify(bytes) {
            Some(seq) => {
                self.ok += 1;
                self.sum = self.sum.wrapping_add(seq);
            }
            None => self.bad += 1,
        }
    }

    fn out(self, extra_bad: u64) -> ChildOut {
        let mut o = ChildOut {
            ops: self.ok,
            errors: self.bad + extra_bad,
            ..ChildOut::default()
        };
        o.extra[0] = self.sum;
        o
    }
}

/// Checks a run: every record verified exactly once (else errors).
fn settle(mut out: RunOut, n: u64) -> RunOut {
    let sum = out.extra.iter().fold(0u64, |s, e| s.wrapping_add(e[0]));
    // 0 + 1 + ... + (n - 1), as the consumers' wrapping sums count it.
    let want = (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64;
    if out.ops != n || sum != want {
        out.errors += 1;
    }
    out
}

/// The shared queue subject.
pub fn queue_run(n: u64) -> std::io::Result<RunOut> {
    let heap = FreeList::anonymous(SEGMENT).map_err(std::io::Error::other)?;
    let q = Queue::create_in(&*heap, QUEUE_SLOTS).map_err(std::io::Error::other)?;
    let at = q.offset();
    let out = run_forked(1 + CONSUMERS, |k, ctl: &Ctl| {
        let Ok(me) = heap.reattach() else {
            return ChildOut {
                errors: 1,
                ..ChildOut::default()
            };
        };
        let Ok(q) = Queue::open(&*me, at) else {
            return ChildOut {
                errors: 1,
                ..ChildOut::default()
            };
        };
        if k == 0 {
            produce_queue(&me, &q, n, ctl)
        } else {
            consume_queue(&me, &q, k, ctl)
        }
    })?;
    Ok(settle(out, n))
}

fn produce_queue(heap: &FreeList, q: &Queue<'_>, n: u64, ctl: &Ctl) -> ChildOut {
    let mut errors = 0;
    let mut oom = 0;
    ctl.start(0);
    for seq in 0..n {
        let at = loop {
            if let Ok(at) = heap.alloc(RECORD as u64) {
                break at;
            }
            // The consumers free as they go: wait for one.
            oom += 1;
            std::thread::yield_now();
        };
        let ok = heap.write(at, &record(seq)).is_ok()
            && heap.share(at).is_ok()
            && q.push(at.get(), PATIENCE).is_ok();
        errors += u64::from(!ok);
    }
    for _ in 0..CONSUMERS {
        errors += u64::from(q.push(END, PATIENCE).is_err());
    }
    ctl.end(0);
    ChildOut {
        errors,
        retries: oom,
        ..ChildOut::default()
    }
}

fn consume_queue(heap: &FreeList, q: &Queue<'_>, k: usize, ctl: &Ctl) -> ChildOut {
    let mut t = Tally::default();
    let mut failed = 0;
    let mut buf = [0u8; RECORD];
    ctl.start(k);
    loop {
        match q.pop(PATIENCE) {
            Ok(END) => break,
            Ok(v) => {
                let at = sharena::Offset::new(v);
                if heap.read_into(at, &mut buf).is_ok() {
                    t.take(&buf);
                } else {
                    failed += 1;
                }
                failed += u64::from(heap.free(at).is_err());
            }
            Err(_) => {
                failed += 1;
                break;
            }
        }
    }
    ctl.end(k);
    t.out(failed)
}

/// Which kernel channel a copying subject uses.
#[derive(Clone, Copy, Debug)]
pub enum Channel {
    /// A pipe.
    Pipe,
    /// A Unix datagram socket pair (`SOCK_DGRAM`: one message per record).
    Socket,
}

fn channel(c: Channel) -> std::io::Result<(OwnedFd, OwnedFd)> {
    match c {
        Channel::Pipe => nix::unistd::pipe()
            .map(|(r, w)| (w, r))
            .map_err(std::io::Error::from),
        Channel::Socket => {
            let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
            Ok((a.into(), b.into()))
        }
    }
}

/// One record's `write`/`send`; false on a short or failed write.
fn send_record(fd: &OwnedFd, bytes: &[u8; RECORD]) -> bool {
    // SAFETY: `bytes` is a live buffer of RECORD bytes; the fd is open.
    let r = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), RECORD) };
    r == RECORD as isize
}

/// One record's `read`/`recv`; false on a short or failed read.
fn recv_record(fd: &OwnedFd, bytes: &mut [u8; RECORD]) -> bool {
    loop {
        // SAFETY: `bytes` is a live, writable buffer of RECORD bytes.
        let r = unsafe { libc::read(fd.as_raw_fd(), bytes.as_mut_ptr().cast(), RECORD) };
        if r == RECORD as isize {
            return true;
        }
        if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return false;
    }
}

/// A copying subject: every record through the kernel.
pub fn channel_run(c: Channel, n: u64) -> std::io::Result<RunOut> {
    let (tx, rx) = channel(c)?;
    let out = run_forked(1 + CONSUMERS, |k, ctl: &Ctl| {
        if k == 0 {
            let mut errors = 0;
            ctl.start(0);
            for seq in 0..n {
                errors += u64::from(!send_record(&tx, &record(seq)));
            }
            for _ in 0..CONSUMERS {
                errors += u64::from(!send_record(&tx, &record(END)));
            }
            ctl.end(0);
            ChildOut {
                errors,
                ..ChildOut::default()
            }
        } else {
            let mut t = Tally::default();
            let mut failed = 0;
            let mut buf = [0u8; RECORD];
            ctl.start(k);
            loop {
                if !recv_record(&rx, &mut buf) {
                    failed += 1;
                    break;
                }
                if u64::from_le_bytes(buf[..8].try_into().unwrap_or([0; 8])) == END
                    && buf == record(END)
                {
                    break;
                }
                t.take(&buf);
            }
            ctl.end(k);
            t.out(failed)
        }
    })?;
    Ok(settle(out, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_verify_and_corruption_is_seen() {
        for seq in [0, 1, 77, u64::MAX - 1] {
            let mut r = record(seq);
            assert_eq!(verify(&r), Some(seq));
            r[40] ^= 1;
            assert_eq!(verify(&r), None);
        }
    }

    #[test]
    fn settle_wants_every_record_once() {
        for n in [0u64, 1, 2, 3, 10, 11] {
            let sum: u64 = (0..n).sum();
            let run = |ops, s| RunOut {
                ops,
                extra: vec![[s, 0, 0, 0]],
                ..RunOut::default()
            };
            assert_eq!(settle(run(n, sum), n).errors, 0, "n={n}");
            assert_eq!(settle(run(n, sum.wrapping_add(1)), n).errors, 1);
            assert_eq!(settle(run(n + 1, sum), n).errors, 1);
        }
    }
}
