//! The lock-free core of slab recovery, free of any segment handle so that
//! the loom models in `loom_tests.rs` run it as it is: the walk of the free
//! stack and the pass that takes slots back with a CAS on their words.

use crate::cache::{Cache, MAX_BATCH};
use crate::stack::Shared;
use crate::word::{Head, SlotState, SlotWord, NIL};
use shm_layout::sync::Ordering;

/// A small bitset over slot indices.
#[derive(Debug)]
pub struct Bits(Vec<u64>);

impl Bits {
    /// All clear, for `n` slots.
    pub fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    /// Bit `i`.
    pub fn get(&self, i: u32) -> bool {
        self.0[i as usize / 64] >> (i % 64) & 1 == 1
    }
    /// Sets bit `i`; returns whether it was set before.
    pub fn set(&mut self, i: u32) -> bool {
        let w = &mut self.0[i as usize / 64];
        let was = *w >> (i % 64) & 1 == 1;
        *w |= 1 << (i % 64);
        was
    }
}

/// The most slots one successful head CAS puts on the stack: every push
/// is a chain of at most this many (`Cache::flush` and `Pass` push in
/// batches of it, a free pushes one). A format constant: a slot that was
/// at depth `d` when the head's tag was `t`, and is still on the stack
/// when it is `T`, lies at depth at most `d + PUSH_MAX * (T - t)`.
pub const PUSH_MAX: u64 = MAX_BATCH as u64;

/// How deep a walk must go, given the head's tag when it starts: every
/// slot it must find lies at most this deep (`u64::MAX`: to the end).
pub type Depth<'f> = &'f dyn Fn(u32) -> u64;

/// The depth within which every slot that was on the stack, within
/// `PUSH_MAX` of the top, when the head's tag was `since` lies now, when
/// it is `now`; `u64::MAX` when the tags are more than 2^31 apart (the
/// count may have wrapped).
pub fn depth_since(since: u32, now: u32) -> u64 {
    let d = now.wrapping_sub(since);
    if d > 1 << 31 {
        u64::MAX
    } else {
        PUSH_MAX * (u64::from(d) + 1) + 1
    }
}

/// The slots on the free stack, found by following it from the head, down
/// to the depth `depth` gives for the head's tag (or to its end).
///
/// Not a snapshot (others push and pop meanwhile), but enough for
/// recovery: a slot that stays on the stack for the whole walk and lies
/// within the depth when the walk starts is always visited (pops happen
/// above it, pushes above the walk; a node popped and pushed again links
/// to the head of its day, whose chain reaches every node older than it).
/// A walk that meets a node no longer FREE starts again from the head,
/// keeping what it marked. `None` if it does not finish within
/// `4 * slots + 64` steps and 64 starts (endless churn, or a cycle).
pub fn walk_stack(shared: &Shared<'_>, depth: Depth<'_>) -> Option<Bits> {
    let n = shared.len();
    let mut seen = Bits::new(n as usize);
    let mut budget = 4 * u64::from(n) + 64;
    for _ in 0..64 {
        // Acquire: pairs with the Release CAS of every push, so the links
        // of the nodes pushed so far are visible.
        let head = Head::unpack(shared.ctl.head.0.load(Ordering::Acquire));
        let mut deep = depth(head.tag);
        let mut i = head.index;
        let finished = loop {
            if i == NIL || deep == 0 {
                break true;
            }
            if budget == 0 || i >= n {
                break false;
            }
            budget -= 1;
            deep -= 1;
            // Relaxed: covered by the Acquire head load above.
            match SlotWord::unpack(shared.word(i).load(Ordering::Relaxed)) {
                Some(w) if w.state == SlotState::Free => {
                    seen.set(i);
                    i = w.next;
                }
                _ => break false,
            }
        };
        if finished {
            return Some(seen);
        }
        if budget == 0 {
            return None;
        }
    }
    None
}

/// What one reclaim pass returns to the stack and how it counts.
#[derive(Debug)]
pub struct Pass<'a> {
    shared: Shared<'a>,
    custody: Cache<'a>,
    chain: [u32; MAX_BATCH],
    gens: [u8; MAX_BATCH],
    k: usize,
    /// Slots taken so far.
    pub blocks: u64,
}

impl<'a> Pass<'a> {
    /// A pass whose taken slots `custody` (an entry the caller holds)
    /// owns until they are on the stack.
    pub fn new(shared: Shared<'a>, custody: Cache<'a>) -> Self {
        Pass {
            shared,
            custody,
            chain: [0; MAX_BATCH],
            gens: [0; MAX_BATCH],
            k: 0,
            blocks: 0,
        }
    }

    /// Takes slot `i` (word `raw`, decoded `w`) with a CAS into the custody
    /// entry (CACHED, generation bumped, so a FREE word read earlier by a
    /// popper never comes back unchanged), then queues it for the stack.
    pub fn take(&mut self, i: u32, raw: u64, w: SlotWord) {
        let g = w.generation.wrapping_add(1);
        let to = SlotWord::cached(self.custody.owner, g);
        // Relaxed: the CAS decides the word against a racing popper, taker
        // or free, which then fails its own CAS (or finds the slot not
        // live); the slot's bytes reach the next owner through the push's
        // Release.
        if self
            .shared
            .word(i)
            .compare_exchange(raw, to.pack(), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        self.chain[self.k] = i;
        self.gens[self.k] = g;
        self.k += 1;
        self.blocks += 1;
        if self.k == MAX_BATCH {
            self.push();
        }
    }

    /// Pushes what is queued (call once at the end).
    pub fn push(&mut self) {
        if self.k == 0 {
            return;
        }
        let gens = self.gens;
        // Counted as a push of the custody entry's other threads (the
        // entry's cache owner may be pushing too). Relaxed: read only by a
        // recovery after this process died.
        let flag = &self.custody.head.others_pushing;
        flag.fetch_add(1, Ordering::Relaxed);
        self.shared
            .push_chain(&self.chain[..self.k], self.custody.owner, |j| gens[j], None);
        flag.fetch_sub(1, Ordering::Relaxed);
        self.k = 0;
    }
}

#[cfg(all(test, not(shm_loom)))]
mod tests {
    use super::*;

    #[test]
    fn depth_grows_by_one_push_per_tag_and_gives_up_past_half_the_range() {
        assert_eq!(depth_since(7, 7), PUSH_MAX + 1);
        assert_eq!(depth_since(7, 9), 3 * PUSH_MAX + 1);
        assert_eq!(depth_since(u32::MAX, 1), 3 * PUSH_MAX + 1);
        assert_eq!(depth_since(0, 1 << 31), PUSH_MAX * ((1 << 31) + 1) + 1);
        assert_eq!(depth_since(0, (1 << 31) + 1), u64::MAX);
        assert_eq!(depth_since(9, 7), u64::MAX);
    }
}
