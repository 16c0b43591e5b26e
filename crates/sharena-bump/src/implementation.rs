//! How the bump allocator works (documentation only).
//!
//! # Layout
//! The state region holds one `#[repr(C)]` struct of 64-bit atomics
//! (`BumpState`, 8,768 bytes; see `docs/FORMAT.md`, "Bump segments"):
//!
//! | offset | word | written by |
//! | --- | --- | --- |
//! | `0x000` | `magic` = `b"BUMPv002"` | creator |
//! | `0x008` | `capacity` (pool bytes) | creator |
//! | `0x010` | `salt` (per-segment header key) | creator |
//! | `0x080` | `epoch` (resets + marks + rewinds) | helpers of transitions |
//! | `0x088` | `generation` (resets + rewinds) | helpers of transitions |
//! | `0x090` | `reset_generation` (generation the last reset started) | helpers |
//! | `0x098` | `floor` = `gen_lo:20 \| cursor/8:44` (last reset/rewind cursor) | helpers |
//! | `0x100` | `head` = `parity:1 \| reset:1 \| epoch_lo:10 \| tag:8 \| cursor/8:44` | every refill |
//! | `0x180` | `allocations` = `gen_lo:16 \| count:48` | refills, resets |
//! | `0x200` | `high_water` = `gen_lo:16 \| bytes:48` | rewinds, resets |
//! | `0x280` | 127 reservation records of 64 bytes: `owner`, two lanes of `to`, `start`, `fallback` | each thread's refills; `Drop`, reclaims |
//!
//! `epoch`, `generation`, `reset_generation` and `floor` share a
//! read-mostly line; `head`, `allocations` and
//! `high_water` each own one. Each block is preceded by an 8-byte header:
//! `(len/8) | slack << 32 | (generation mod 2^29) << 35` (the slack: the
//! bytes of `len` the request did not ask for, so that `read` and `write`
//! stop at the size asked), XORed with a SplitMix64 key of
//! (offset, salt), so a word that is not the header of *this* offset in
//! *this* segment decodes to a random generation.
//!
//! # Algorithm
//! - **Reserve** (`BumpState::reserve`): take a consistent snapshot, plan
//!   the new cursor, CAS `head` from the snapshot's word to the same tag
//!   with the new cursor. The CAS is the linearization point; the bytes
//!   between the two cursors belong to the caller for that epoch.
//! - **Chunks**: a thread reserves `params[0]` bytes (or whatever is left,
//!   if that still holds its block) and carves blocks from them with no
//!   shared write. If its chunk ends exactly at the shared cursor, the
//!   refill *extends* it instead, so a lone thread wastes nothing and
//!   fills the pool to the last byte. A block larger than half a chunk
//!   gets a reservation of its own.
//! - **Reservation records**: before its head CAS a thread publishes, in a
//!   lane of its record, the head word the CAS will install (tagged with
//!   the lane), where the reservation starts and what it holds if the CAS
//!   fails; it confirms (clears the tag) after. Whoever moves the head on
//!   from a tagged head confirms that lane first. So a lane resolves
//!   exactly at any instant its owner stops: an intent equal to the head,
//!   or confirmed, won; any other intent lost. `Drop` and `reclaim_dead`
//!   walk the region along its headers and turn the rest into a filler
//!   block; a thread leaving its chunk for another fills the old tail.
//!   docs/ALLOCATORS.md ("Bump: crash recovery") has the argument.
//! - **Fast path**: a block is carved from the chunk only if the chunk's
//!   epoch equals the `epoch` word (one Relaxed load of a read-mostly
//!   line). The linearization point is that load.
//! - **Transitions** (reset, mark, rewind): one CAS on `head` installs the
//!   new cursor (0, the same, or the mark's), tags it with epoch + 1,
//!   flips the generation parity for a reset or rewind, and sets the reset
//!   bit for a reset. That CAS is the linearization point. The mirrors then
//!   catch up: `generation` (if the parity says so), `reset_generation`
//!   (`fetch_max`, for a reset), `floor` (to the new cursor, CAS from the
//!   previous generation's tag), the tagged counters, and finally `epoch`,
//!   each from the value it replaces. Anyone who finds `head` one epoch ahead of `epoch`
//!   (in `snapshot`) performs the same steps first (helping), so a process
//!   that dies mid-transition blocks nobody. Because the head is tagged,
//!   a reservation planned before a transition fails its CAS and retries
//!   in the new epoch.
//! - **Retiring chunks**: every transition bumps the epoch, so every chunk
//!   of every process fails the fast path's check afterwards. A block
//!   carved from a retired chunk is impossible; one carved just before the
//!   check failed belongs to the old epoch (below the old cursor).
//! - **Staleness**: reset and rewind start a new generation, recorded in
//!   the headers of new blocks, and install `floor` (0 for a reset, the
//!   mark's cursor for a rewind). `usable_size` accepts a header whose
//!   block ends at or before the cursor and whose generation is the
//!   current one if the header lies at or past the floor, or any since the
//!   last reset below it. Every block the last reset or the last rewind
//!   released is therefore reported `Stale` (or `InvalidOffset` once its
//!   header bytes were overwritten), whether or not new blocks cover it.
//!   Guarantee: exact for the latest reset and the latest rewind (up to the
//!   29-bit generation in the header and 2^-29 odds for a garbage word).
//!   Best effort for a block released by an *earlier* rewind whose floor a
//!   later rewind raised above it (nested marks rewound out of order, or a
//!   second rewind to a higher mark): such an offset may validate again if
//!   its header survives below the new floor. An offset where a new block
//!   starts means that new block: offsets carry no generation.
//! - **Marks** must be rewound innermost first. A rewind to a mark from
//!   before the last reset, past the cursor, or above a floor installed
//!   after it is `Stale`.
//!
//! # Orderings
//! - Control words (`epoch`, `generation`, `head`) are read and CAS'd with
//!   SeqCst on the slow paths: `snapshot` reads epoch, generation, head,
//!   epoch and relies on a single total order over the three words (if the
//!   epoch did not move, no transition both started and finished in
//!   between, so the generation belongs to the head). These paths run once
//!   per chunk, and a CAS is a full barrier on x86 anyway.
//! - The fast path's `epoch` load is Relaxed: nothing is read through it.
//!   It pairs by coherence with the epoch CAS of `help`; a stale value
//!   orders the allocation before the transition.
//! - Header words are stored and loaded Relaxed: an offset reaches another
//!   thread or process only through the caller's own synchronisation
//!   (returning it, a channel, a directory publish with Release/Acquire),
//!   which orders the header store before the `usable_size` load.
//! - `allocations` and `high_water` are Relaxed statistics; the generation
//!   tag lives in the same word as the value, so a flush and a reset's
//!   restart of the counter are ordered by that word's modification order.
//! - Thread-local slots are written by their thread only (Relaxed load and
//!   store, no RMW) and read Relaxed by `stats` and `mark`.
//! - Creation: `init` stores every word Relaxed before the segment's READY
//!   word is published with Release; `attach` runs after the opener's
//!   Acquire of READY.
//!
//! # Statistics
//! `used` is the shared cursor less this process's unused chunk bytes;
//! `available = capacity - used`. `allocations` counts blocks of the
//! current generation: each thread counts locally and flushes at its next
//! refill, so another process's view lags by at most one chunk per thread;
//! a rewind restores the count its mark saw (exact for this handle's
//! threads, approximate for other processes' unflushed counts).
//! `high_water` is the most bytes reserved since the last reset.
