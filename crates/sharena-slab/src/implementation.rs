//! Implementation notes (documentation only).
//!
//! # Algorithm
//! The shared free list is a Treiber stack (R. K. Treiber, *Systems
//! Programming: Coping with Parallelism*, IBM Research Report RJ 5118,
//! 1986) of slot indices. Its head is one `u64`: `tag << 32 | index`,
//! index `u32::MAX` meaning empty; every successful CAS on it adds one to
//! the tag (the counted pointer of IBM System/370; Michael & Scott, PODC
//! 1996). The `next` link of a free slot lives in bits 32..64 of the slot's
//! state word (`word.rs`), not in the slot's bytes, so a stale popper
//! reading a link races only with atomic stores, never with user data.
//!
//! Slots `counter..slot_count` were never handed out; the never-used
//! counter (a CAS loop bounded by the slot count) hands them out in
//! batches. A fresh segment is all zero: counter 0, every slot word UNUSED,
//! every cache entry free; `init` writes two words (the empty head and the
//! format word), so creation is O(1) in the slot count.
//!
//! Each `Slab` (one per process, or per thread) is one *attachment*: it
//! claims a registry entry with `OwnerSlot::claim` on its owner word (the
//! attachment's `OwnerId`: pid, epoch and start time in one word; 0 =
//! free), or fails to attach when every entry is taken, so every slot it
//! hands out names an entry. Its cache is a LIFO of slots in state CACHED
//! with the entry's owner id (entry id + 1), kept in the `Slab`'s own
//! (process-local) memory since format 2; the entry publishes its count
//! at refills and flushes, a hint only. Only the owning thread of the
//! owning `Slab` touches the cache:
//! - alloc pops the array (count lowered, then the slot word becomes
//!   ALLOCATED with the generation bumped and the slack, the slot size
//!   minus the size asked for, in its high half); if empty, it refills half
//!   a cache from the shared stack (one pop, one CAS, per slot) and then
//!   from the counter (one CAS for the batch);
//! - free checks the offset (in the slots, a slot start), moves the slot
//!   word ALLOCATED -> CACHED(owner) (the double-free check and the
//!   linearization point of the free: a load and a store by default, a CAS
//!   if the slab was created with `params[4]` bit 0, STRICT_FREE) and
//!   pushes the index; if the array is
//!   full, it first flushes half of it to the shared stack: it lowers the
//!   count, links the slots through their state words (FREE) and pushes the
//!   whole chain with one CAS on the head.
//!
//! Other threads sharing a `Slab` (not the cache owner, which is the first
//! thread to allocate or free through it; ids are never reused) skip the
//! cache: alloc = pop one (or take one from the counter), free = the same
//! slot-word CAS followed by a one-slot push. Their pops record in the
//! entry's second pop record (`others`), so they take turns through a
//! process-local lock held for one pop; no other process ever waits on it.
//!
//! # Linearization points
//! - stack pop: the successful head CAS; push (one slot or a chain): the
//!   successful head CAS; counter take: the successful counter CAS.
//! - `alloc`: from the cache, the store of the slot word to ALLOCATED (the
//!   slot was already exclusively this thread's); otherwise the pop or
//!   counter CAS that took it. A hit writes that word and nothing else in
//!   the segment; a free hit likewise writes only the slot word.
//! - `free`: the write of the slot word ALLOCATED -> CACHED. Every free
//!   that comes after another free of the same slot sees a word that is not
//!   ALLOCATED and reports `DoubleFree`. Where that write is a CAS (threads
//!   bypassing the cache, and every free under STRICT_FREE), two frees
//!   racing at the same instant are told apart too: one CAS wins, and the
//!   8-bit generation (bumped by every allocation) makes a free of an old
//!   offset fail even if the slot was reallocated meanwhile. The cache
//!   owner's default fast path uses a load and a store, because one
//!   uncontended CAS per free is most of W2's budget (measured: 1.3x instead
//!   of 1.8x the one-CAS Treiber baseline); a racing double free is a
//!   use-after-free in the caller, and without STRICT_FREE it can put one
//!   slot in two caches.
//! - `attach`: the claim CAS of its entry (before it, the attachment holds
//!   nothing but a process-table entry, which a reclaim frees if it dies).
//! - a reclaim's (or `Drop`'s) take of a slot: the CAS of its word from the
//!   word the pass read; of an entry: the adoption CAS; `Drop` ends the
//!   attachment at the release CAS of its entry, after its last take.
//!
//! # Why ABA cannot bite
//! A pop reads head `(A, t)` and `next(A) = B`, then CASes `(A, t) ->
//! (B, t + 1)`. If meanwhile A was popped, B popped and A pushed back, the
//! head is `(A, t + 3)`: the CAS fails. It could only succeed wrongly if
//! exactly a multiple of 2^32 successful head CASes happened between the
//! load and the CAS and the index came back to A: at 10^8 CASes a second
//! that needs the popping thread to stall for at least 43 s between two
//! adjacent instructions, and even then A must be on top again. We accept
//! that bound (as every 32-bit-tag design does). A corrupt link is never
//! installed: the node must be FREE and the link in range. A failed check
//! may be a race (the node was popped after we read the head), and
//! re-reading the head cannot rule that out, because a Relaxed look at the
//! node gives no happens-before with the pop that changed it (loom found
//! this). So the popper confirms with a CAS that bumps only the tag: if it
//! succeeds, no head CAS came in between, nobody popped the node, and the
//! segment is corrupt (reported); if it fails, the head moved and the pop
//! retries. A cyclic chain therefore ends at a node that is no longer
//! FREE instead of looping.
//!
//! # Memory orderings (each pair is marked `SYNC POINT` in the code)
//! - push: Release CAS on the head; pop: Acquire load (and Acquire CAS) of
//!   the head. This carries the FREE words with their links and the bytes
//!   the slots' last owners wrote. All head updates are RMWs, so they form
//!   one release sequence and a popper synchronises with every earlier
//!   push, not only the last.
//! - cache entry claim, adoption and release: `OwnerSlot`'s (AcqRel claim
//!   and adoption, Release release), so the next holder of an entry sees
//!   the count and pop records its last holder left (zeroed by a clean
//!   release, or whatever a dead holder last wrote).
//! - Everything else is Relaxed, and why no fence is needed: the cache
//!   array and count (process-local), the published count, pop records
//!   and CACHED slot words are written only by the entry's holder (program
//!   order); the slot-word CAS of a free decides
//!   who owns the word, while the block's bytes reached the freeing thread
//!   through the user's own synchronisation (as with any allocator) and
//!   reach the next owner through the stack's Release/Acquire pair or
//!   program order; the never-used counter publishes nothing (fresh slots
//!   are as creation left them, visible since READY's Release/Acquire).
//!   `stats` reads the slot words, a snapshot under concurrency by
//!   contract.
//!
//! # Crash recovery, and the end of an attachment
//! A dead attachment leaves its registry entry (its `OwnerId` in the owner
//! word), slots CACHED with its id (listed in the array or not), its
//! unshared ALLOCATED slots, FREE slots it linked but never pushed (FREE
//! words name the pushing entry), the slot a pop of it was taking (recorded
//! in one of the entry's two pop records before the head CAS), and UNUSED
//! slots below the counter. `Recover::reclaim_dead` (`recover.rs`) adopts
//! the entry (`OwnerSlot::adopt_if_dead`, one CAS, judged by one `Liveness`
//! per pass) and runs the pass of `sweep.rs` (core in `reclaim.rs`): each
//! of those slots taken back with a CAS on its word into the custody of
//! the reclaimer's own entry, and pushed. FREE slots off the stack are
//! told from those on it by a walk of the stack, needed only after a death
//! inside a push or a pop (both flag themselves in their entry for that
//! window) and only as deep as the flag's head tag allows. Pops stamp
//! with a CAS and never-used slots are stamped with a CAS from 0, so a
//! recovery racing a live process never puts a slot in two places. `Drop`
//! runs the same pass for its own entry (no walk: a live entry leaves no
//! FREE slot off the stack), so a clean exit and a death free the same
//! slots; so does `attach` when every entry is taken and it adopts a dead
//! one. `docs/ALLOCATORS.md` ("Slab: crash recovery") walks through every
//! death point.
