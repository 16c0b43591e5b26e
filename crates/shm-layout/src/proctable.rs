//! The process table: one 64-byte entry per attachment, at the start of the
//! metadata region.
//!
//! ```text
//! entry (64 bytes)
//! +0   id           OwnerId of the attachment (pid | epoch << 22 | start << 32); 0 free
//! +8   attached_ns  when it attached, ns since the Unix epoch (informational)
//! +16  reserved     5 words, zero
//! ```
//! One word carries the whole identity, so every transition is one CAS on
//! it: attach `0 -> me` (or, in a full table, `dead -> me`), detach
//! `me -> 0`, reclaim `dead -> 0`. Each
//! attachment (each allocator handle) takes its own entry, so no count has
//! to agree with the id word and a process killed anywhere leaves only
//! entries whose id names it, which a reclaim frees ([`ProcTable::release_all`]).
//! `params[6]` is the capacity; 0 means the segment has no table
//! (segments made by the allocator crates directly, for tests and
//! in-process use), and then [`ProcTable::register`] returns `None`.

use crate::consts::{
    DIRECTORY_ENTRY_LEN, PARAM_DIRECTORY_SLOTS, PARAM_MAX_PROCESSES, PROCESS_ENTRY_LEN,
};
use crate::error::{Error, Result};
use crate::header::RegionId;
use crate::offset::Offset;
use crate::owner::{OwnerId, OwnerSlot};
use crate::sync::{AtomicU64, Ordering};
use crate::view::SegmentView;
use std::time::{SystemTime, UNIX_EPOCH};

/// The process table of a validated segment.
#[derive(Clone, Copy, Debug)]
pub struct ProcTable<'a> {
    view: &'a SegmentView,
    /// Segment offset of entry 0.
    first: u64,
    /// Entries.
    capacity: u64,
}

/// One attachment, as [`ProcTable::entries`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcEntry {
    /// The entry's index.
    pub slot: u32,
    /// Who holds it.
    pub id: OwnerId,
    /// When it attached (ns since the Unix epoch; 0 if not yet written).
    pub attached_unix_ns: u64,
    /// Whether that process still runs (same pid *and* start time).
    pub alive: bool,
}

/// A claimed entry; [`ProcTable::unregister`] gives it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The entry's index.
    pub slot: u32,
    /// The identity written into it.
    pub id: OwnerId,
}

impl<'a> ProcTable<'a> {
    /// The table of `view`: `params[6]` entries at the start of the metadata
    /// region, checked (with the directory after it) against the region's
    /// length.
    pub fn of(view: &'a SegmentView) -> Result<ProcTable<'a>> {
        let meta = view.region(RegionId::Metadata);
        let params = view.header().params;
        let (procs, dir) = (params[PARAM_MAX_PROCESSES], params[PARAM_DIRECTORY_SLOTS]);
        let need = procs.checked_mul(PROCESS_ENTRY_LEN).and_then(|p| {
            dir.checked_mul(DIRECTORY_ENTRY_LEN)
                .and_then(|d| p.checked_add(d))
        });
        match need {
            Some(n) if n <= meta.len && u32::try_from(procs).is_ok() => Ok(ProcTable {
                view,
                first: meta.offset,
                capacity: procs,
            }),
            _ => Err(Error::BadField {
                segment: view.name().to_string(),
                field: "params[6]",
                value: procs,
                expected: "process and directory entries that fit the metadata region",
            }),
        }
    }

    /// How many entries the table has.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn word(&self, slot: u64, word: u64) -> Result<&'a AtomicU64> {
        debug_assert!(slot < self.capacity && word < PROCESS_ENTRY_LEN / 8);
        self.view.atomic_u64(Offset::new(
            self.first + slot * PROCESS_ENTRY_LEN + word * 8,
        ))
    }

    /// Takes a free entry for `id`; when every entry is taken, adopts the
    /// entry of an attachment whose process is dead (one CAS, `dead -> id`).
    /// `Ok(None)` when the table has no entries at all;
    /// [`Error::ProcessTableFull`] only when every holder lives.
    ///
    /// Adopting is safe because no allocator keeps a dead attachment's
    /// holdings in this table: each records them in its own registry
    /// (arena, cache entry, seat) under the same [`OwnerId`], where its
    /// `reclaim_dead` finds them whether or not the table entry is still
    /// there. The entry only lets a reclaim count the process.
    pub fn register(&self, id: OwnerId) -> Result<Option<Registration>> {
        if self.capacity == 0 {
            return Ok(None);
        }
        for adopt in [false, true] {
            for slot in 0..self.capacity {
                let owner = OwnerSlot::from_atomic(self.word(slot, 0)?);
                // The orderings: `OwnerSlot::claim` and `OwnerSlot::adopt_if`.
                let won = if adopt {
                    matches!(
                        owner.adopt_if(id, |h| !h.same_process(id) && !h.is_alive()),
                        crate::owner::Adoption::Adopted(_)
                    )
                } else {
                    owner.claim(id)
                };
                if won {
                    return self.stamp(slot, id).map(Some);
                }
            }
        }
        Err(Error::ProcessTableFull {
            segment: self.view.name().to_string(),
            capacity: self.capacity,
        })
    }

    /// Records when `id` took `slot` and hands out the registration.
    fn stamp(&self, slot: u64, id: OwnerId) -> Result<Registration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // Relaxed: informational, read by `entries` only.
        self.word(slot, 1)?.store(now, Ordering::Relaxed);
        Ok(Registration {
            slot: slot as u32,
            id,
        })
    }

    /// Gives an entry back (a no-op if it no longer names `reg.id`, e.g.
    /// because a reclaim already took it).
    pub fn unregister(&self, reg: Registration) {
        if u64::from(reg.slot) >= self.capacity {
            return;
        }
        if let Ok(w) = self.word(u64::from(reg.slot), 0) {
            // The release's orderings: `OwnerSlot::release`.
            OwnerSlot::from_atomic(w).release(reg.id);
        }
    }

    /// Every taken entry, with whether its process still runs.
    pub fn entries(&self) -> Result<Vec<ProcEntry>> {
        let mut out = Vec::new();
        for slot in 0..self.capacity {
            // `holder` Acquires: pairs with the attach CAS, so `attached_ns`
            // of that attach is usually visible (informational either way).
            let Some(id) = OwnerSlot::from_atomic(self.word(slot, 0)?).holder() else {
                continue;
            };
            out.push(ProcEntry {
                slot: slot as u32,
                id,
                attached_unix_ns: self.word(slot, 1)?.load(Ordering::Relaxed),
                alive: id.is_alive(),
            });
        }
        Ok(out)
    }

    /// The attachments that hold entries and whose process is no longer
    /// running.
    pub fn dead(&self) -> Result<Vec<OwnerId>> {
        let mut dead: Vec<OwnerId> = Vec::new();
        for e in self.entries()? {
            if !e.alive && !dead.contains(&e.id) {
                dead.push(e.id);
            }
        }
        Ok(dead)
    }

    /// Frees the entries of `id` (one CAS each; entries another reclaim
    /// freed first are skipped). Returns how many this call freed. Call it
    /// after everything `id` held elsewhere has been reclaimed, so that a
    /// reclaim killed halfway still counts the process the next time.
    pub fn release_all(&self, id: OwnerId) -> Result<u64> {
        let mut n = 0;
        for slot in 0..self.capacity {
            // The release's orderings: `OwnerSlot::release`.
            if OwnerSlot::from_atomic(self.word(slot, 0)?).release(id) {
                n += 1;
            }
        }
        Ok(n)
    }
}
