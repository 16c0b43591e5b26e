//! Loom models of the slab's lock-free parts (run with `.ci/loom.sh`):
//! the Treiber stack under racing alloc and free, the ABA schedule, a
//! cache flush racing allocations, a reclaim racing a live pop, a reclaim
//! sweeping into the custody of an entry whose cache is in use, and a
//! stale pop record racing the pop that did take its slot. Tiny on purpose:
//! loom explores every interleaving, so 2 or 3 threads and a few slots.

use crate::cache::{Cache, Local};
use crate::layout::{CacheHead, Control};
use crate::stack::Shared;
use crate::word::{Head, SlotState, SlotWord, NIL};
use loom::sync::Arc;
use loom::thread;
use shm_layout::sync::{AtomicU64, Ordering};

/// A slab state on the heap: control block, slot words, and a claim table
/// that proves no slot has two holders at once.
struct Heap {
    ctl: Control,
    slots: Vec<AtomicU64>,
    held: Vec<AtomicU64>,
}

impl Heap {
    fn new(n: usize) -> Arc<Heap> {
        let heap = Heap {
            ctl: Control::default(),
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
            held: (0..n).map(|_| AtomicU64::new(0)).collect(),
        };
        heap.shared().init();
        Arc::new(heap)
    }

    fn shared(&self) -> Shared<'_> {
        Shared::new(&self.ctl, &self.slots)
    }

    /// Allocates one slot for `who` and records the claim.
    fn alloc(&self, who: u64) -> Option<u32> {
        let i = self.shared().alloc_one(1, 0, None).unwrap()?;
        assert_eq!(
            self.held[i as usize].swap(who, Ordering::Relaxed),
            0,
            "slot {i} handed out twice"
        );
        Some(i)
    }

    /// Frees slot `i` (claimed by `who`) to the shared stack.
    fn free(&self, i: u32, who: u64) {
        assert_eq!(self.held[i as usize].swap(0, Ordering::Relaxed), who);
        let generation = self.shared().release_live(i, 1, true).unwrap();
        self.shared().push_chain(&[i], 1, |_| generation, None);
    }

    /// Puts slots `0..k` on the stack (as if allocated and freed).
    fn preload(&self, k: u32) {
        let taken: Vec<u32> = (0..k).map(|_| self.alloc(99).unwrap()).collect();
        for i in taken.into_iter().rev() {
            self.free(i, 99);
        }
    }

    /// The stack's slots, top first; panics on a cycle or a non-FREE node.
    fn walk(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = Head::unpack(self.ctl.head.0.load(Ordering::Acquire)).index;
        while i != NIL {
            assert!(out.len() < self.slots.len(), "cycle in the free stack");
            let w = SlotWord::unpack(self.slots[i as usize].load(Ordering::Relaxed)).unwrap();
            assert_eq!(w.state, SlotState::Free);
            out.push(i);
            i = w.next;
        }
        out
    }

    /// Every slot is exactly one of: on the stack, held, never used.
    fn check_conserved(&self) {
        let mut on_stack = self.walk();
        let unused = self.ctl.unused.0.load(Ordering::Relaxed) as usize;
        for (i, h) in self.held.iter().enumerate() {
            if h.load(Ordering::Relaxed) != 0 {
                assert!(
                    !on_stack.contains(&(i as u32)),
                    "slot {i} both free and held"
                );
                on_stack.push(i as u32);
            }
        }
        on_stack.extend(unused as u32..self.slots.len() as u32);
        on_stack.sort_unstable();
        on_stack.dedup();
        assert_eq!(
            on_stack.len(),
            self.slots.len(),
            "a slot was lost or duplicated"
        );
    }
}

/// Two threads racing alloc and free on a capacity-4 stack (two slots on
/// the stack, two still from the counter).
#[test]
fn racing_alloc_and_free() {
    loom::model(|| {
        let heap = Heap::new(4);
        heap.preload(2);
        let workers: Vec<_> = (1..=2u64)
            .map(|who| {
                let heap = heap.clone();
                thread::spawn(move || {
                    let a = heap.alloc(who).unwrap();
                    let b = heap.alloc(who).unwrap();
                    heap.free(a, who);
                    heap.free(b, who);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        heap.check_conserved();
        assert_eq!(
            heap.walk().len() as u64 + (4 - heap.ctl.unused.0.load(Ordering::Relaxed)),
            4
        );
    });
}

/// The ABA schedule: thread 1 pops (reads head A, next B); thread 2 pops
/// A, pops B and pushes A back. If thread 1's CAS succeeded on the index
/// alone it would install B, which thread 2 holds; the tag makes it fail.
#[test]
fn aba_is_caught_by_the_tag() {
    loom::model(|| {
        let heap = Heap::new(3);
        heap.preload(3); // stack: 0 -> 1 -> 2
        let h1 = heap.clone();
        let t1 = thread::spawn(move || {
            let i = h1.alloc(1).unwrap();
            h1.free(i, 1);
        });
        let a = heap.alloc(2).unwrap();
        let b = heap.alloc(2);
        heap.free(a, 2);
        t1.join().unwrap();
        heap.check_conserved();
        if let Some(b) = b {
            heap.free(b, 2);
        }
        assert_eq!(heap.walk().len(), 3);
    });
}

/// A cache flushing half of itself to the shared stack (one chain CAS)
/// while another process allocates from the stack.
#[test]
fn cache_flush_races_alloc() {
    loom::model(|| {
        let heap = Heap::new(4);
        heap.preload(1); // stack: 0; cache gets 1, 2; slot 3 unused
        let head = Arc::new(CacheHead::default());
        let local = Local::new(2);
        {
            let cache = Cache::new(&head, &local, 1);
            assert_eq!(cache.refill(&heap.shared(), 2).unwrap(), 2);
            // The cache pulled slot 0 from the stack and slot 1 from the counter.
            for i in 0..2 {
                let w = SlotWord::unpack(heap.slots[i].load(Ordering::Relaxed)).unwrap();
                assert_eq!((w.state, w.owner), (SlotState::Cached, 2));
            }
        }
        let h2 = heap.clone();
        let other = thread::spawn(move || {
            let got: Vec<u32> = (0..2).filter_map(|_| h2.alloc(7)).collect();
            got
        });
        let cache = Cache::new(&head, &local, 1);
        assert_eq!(cache.flush(&heap.shared(), 0).unwrap(), 0);
        let got = other.join().unwrap();
        assert_eq!(got.len(), 2, "slot 2 and 3 or flushed ones were available");
        heap.check_conserved();
        for i in got {
            heap.free(i, 7);
        }
        heap.check_conserved();
    });
}

/// Recovery of a dead entry (owner id 3) racing a live process. The dead
/// entry left: slot 0 FREE pushed by it and still on the stack, slot 1
/// FREE linked by it but never pushed (a flush cut short), slot 2 CACHED
/// by it. The live thread pops (its stamp is a CAS) and frees; the
/// reclaimer walks the stack and takes slots 1 and 2 (and slot 0 too if
/// it finds it popped but not yet stamped). Every slot must end up in
/// exactly one place.
#[test]
fn reclaim_races_a_live_pop() {
    loom::model(|| {
        let heap = Heap::new(3);
        let taken = heap.shared().take_unused(3).unwrap();
        assert_eq!(taken, (0, 3));
        heap.shared().push_chain(&[0], 3, |_| 0, None);
        heap.slots[1].store(SlotWord::free(3, 0, NIL).pack(), Ordering::Relaxed);
        heap.slots[2].store(SlotWord::cached(3, 0).pack(), Ordering::Relaxed);
        let h2 = heap.clone();
        let live = thread::spawn(move || h2.alloc(7));
        let custody_head = CacheHead::default();
        let local = Local::new(2);
        let custody = Cache::new(&custody_head, &local, 2);
        if let Some(on_stack) = crate::reclaim::walk_stack(&heap.shared(), &|_| u64::MAX) {
            let mut pass = crate::reclaim::Pass::new(heap.shared(), custody);
            for i in 0..3 {
                let raw = heap.slots[i as usize].load(Ordering::Relaxed);
                let w = SlotWord::unpack(raw).unwrap();
                let take = match w.state {
                    SlotState::Cached => w.owner == 3,
                    SlotState::Free => w.owner == 3 && !on_stack.get(i),
                    _ => false,
                };
                if take {
                    pass.take(i, raw, w);
                }
            }
            pass.push();
        }
        let got = live.join().unwrap();
        heap.check_conserved();
        if let Some(i) = got {
            heap.free(i, 7);
        }
        let mut all = heap.walk();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2], "every slot back on the stack once");
    });
}

/// A reclaim sweeping a dead entry (owner id 3) into the custody of its
/// own entry (owner id 2) while that entry's cache owner thread uses the
/// cache: it pops, frees back and flushes. The dead entry left slot 1
/// CACHED and slot 2 FREE off the stack (a flush cut short); slot 3 is on
/// the stack. Custody slots are CACHED(2) but not in the local array, so the
/// owner thread never sees them; every slot must end on the stack once.
#[test]
fn reclaim_into_an_entry_in_use() {
    loom::model(|| {
        let heap = Heap::new(4);
        assert_eq!(heap.shared().take_unused(4).unwrap(), (0, 4));
        let head = Arc::new(CacheHead::default());
        // The owner thread's local cache holds slot 0.
        let local = Arc::new(Local::new(2));
        heap.slots[0].store(SlotWord::cached(2, 0).pack(), Ordering::Relaxed);
        local.array[0].store(0, Ordering::Relaxed);
        local.count.store(1, Ordering::Relaxed);
        heap.slots[1].store(SlotWord::cached(3, 0).pack(), Ordering::Relaxed);
        heap.slots[2].store(SlotWord::free(3, 0, NIL).pack(), Ordering::Relaxed);
        heap.shared().push_chain(&[3], 1, |_| 0, None);
        let (h2, head2, local2) = (heap.clone(), head.clone(), local.clone());
        let owner = thread::spawn(move || {
            let cache = Cache::new(&head2, &local2, 1);
            let shared = h2.shared();
            let i = cache.pop(&shared, 0).unwrap().expect("slot 0 is cached");
            let generation = shared.release_live(i, 2, false).unwrap();
            assert_eq!(generation, 1);
            cache.push(&shared, i).unwrap();
            cache.flush(&shared, 0).unwrap();
        });
        // The reclaim uses only the entry's head (its flags), never the
        // owner thread's local array.
        let reclaimer_local = Local::new(2);
        let custody = Cache::new(&head, &reclaimer_local, 1);
        if let Some(on_stack) = crate::reclaim::walk_stack(&heap.shared(), &|_| u64::MAX) {
            let mut pass = crate::reclaim::Pass::new(heap.shared(), custody);
            for i in 0..4 {
                let raw = heap.slots[i as usize].load(Ordering::Relaxed);
                let w = SlotWord::unpack(raw).unwrap();
                let take = w.owner == 3
                    && match w.state {
                        SlotState::Cached => true,
                        SlotState::Free => !on_stack.get(i),
                        _ => false,
                    };
                if take {
                    pass.take(i, raw, w);
                }
            }
            pass.push();
        }
        owner.join().unwrap();
        heap.check_conserved();
        let mut all = heap.walk();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3], "every slot on the stack once");
    });
}

/// A stale pop record of a dead entry: it recorded slot 0 and its FREE
/// word, lost the head CAS and died before voiding the record. A live
/// thread now pops slot 0 (and may be between its head CAS and its stamp
/// when the reclaim looks). The reclaim takes a FREE slot off the stack
/// whose word is exactly the recorded one: then the live stamp, a CAS
/// from that word, fails and the live pop goes again. Either way no slot
/// is in two places.
#[test]
fn a_stale_pop_record_never_doubles_a_slot() {
    loom::model(|| {
        let heap = Heap::new(3);
        assert_eq!(heap.shared().take_unused(3).unwrap(), (0, 3));
        heap.shared().push_chain(&[0, 1, 2], 1, |_| 0, None);
        let recorded = (0u32, heap.slots[0].load(Ordering::Relaxed));
        let h2 = heap.clone();
        let live = thread::spawn(move || h2.alloc(7));
        let custody_head = CacheHead::default();
        let local = Local::new(2);
        let custody = Cache::new(&custody_head, &local, 2);
        if let Some(on_stack) = crate::reclaim::walk_stack(&heap.shared(), &|_| u64::MAX) {
            let mut pass = crate::reclaim::Pass::new(heap.shared(), custody);
            for i in 0..3 {
                let raw = heap.slots[i as usize].load(Ordering::Relaxed);
                let w = SlotWord::unpack(raw).unwrap();
                if w.state == SlotState::Free && !on_stack.get(i) && (i, raw) == recorded {
                    pass.take(i, raw, w);
                }
            }
            pass.push();
        }
        let got = live.join().unwrap().expect("three slots, one taker");
        heap.check_conserved();
        heap.free(got, 7);
        let mut all = heap.walk();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2], "every slot on the stack once");
    });
}
