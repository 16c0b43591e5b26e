//! The region table behind the manager's lock: open files by id, each file's regions
//! sorted by start, the counters, and least-recently-used eviction. Everything here runs
//! with the lock held; nothing here makes a system call.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use crate::error::Target;
use crate::geometry::{self, Gap};
use crate::region::Region;

/// Identity of an open file: device and inode, so that two cursors on one file share its
/// regions whether they came from a path or a descriptor.
pub(crate) type FileKey = (u64, u64);

/// Where an open file sits in the manager's table. A cursor keeps its file's, so that
/// finding the file costs an index, not a hash; it stays valid while the cursor lives.
pub(crate) type FileId = usize;

/// A mapped region and when it was last used. Its bounds are copied here so that a
/// lookup reads the table alone, without following each region's pointer.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) begin: u64,
    pub(crate) end: u64,
    pub(crate) region: Arc<Region>,
    pub(crate) last_used: u64,
}

/// One open file: its descriptor, its cursors and its regions.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: FileKey,
    pub(crate) file: Arc<File>,
    /// What the first cursor on this file was made from, for [`RegionInfo`](crate::RegionInfo).
    pub(crate) target: Target,
    pub(crate) cursors: usize,
    /// The file's size when it was last read (by `fstat`, when the file was opened or a
    /// window mapped). Windows are placed from a fresh reading; this one only lets a
    /// request that must not evict learn without a system call that it has no room.
    pub(crate) size: u64,
    /// The mapped regions, sorted by start offset (they never overlap). A sorted vector
    /// rather than a tree: lookups are a binary search over a few cache lines, and
    /// inserting or removing one (a memmove) costs less than the `mmap` or `munmap`
    /// that comes with it.
    pub(crate) regions: Vec<Slot>,
}

impl Entry {
    /// Index of the first region that starts after `offset`.
    pub(crate) fn after(&self, offset: u64) -> usize {
        self.regions.partition_point(|s| s.begin <= offset)
    }

    /// Index of the region that holds `offset`, if one does.
    pub(crate) fn holding(&self, offset: u64) -> Option<usize> {
        let i = self.after(offset).checked_sub(1)?;
        (offset < self.regions[i].end).then_some(i)
    }

    /// The room around `offset` (which no region holds) on a file of `file_size` bytes.
    pub(crate) fn gap(&self, offset: u64, file_size: u64) -> Gap {
        let next = self.after(offset);
        Gap {
            left: next.checked_sub(1).map_or(0, |i| self.regions[i].end),
            right: self
                .regions
                .get(next)
                .map_or(file_size, |s| s.begin.min(file_size)),
        }
    }

    /// Index of `region` in the table, if it is still there.
    pub(crate) fn index_of(&self, region: &Arc<Region>) -> Option<usize> {
        let i = self.regions.partition_point(|s| s.begin < region.begin());
        let slot = self.regions.get(i)?;
        Arc::ptr_eq(&slot.region, region).then_some(i)
    }
}

/// Everything behind the lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Open files by identity, for new cursors.
    pub(crate) ids: HashMap<FileKey, FileId>,
    /// Open files by id; `None` marks a free id.
    pub(crate) files: Vec<Option<Entry>>,
    /// Ids of closed files, reused first.
    pub(crate) free_ids: Vec<FileId>,
    /// Recency clock, advanced on every acquire and release.
    pub(crate) tick: u64,
    /// Bytes mapped, in whole pages as the kernel maps them: what the budget counts.
    pub(crate) mapped: u64,
    /// Bytes of files mapped (each region's length, clipped at end of file): smmap's
    /// count.
    pub(crate) mapped_len: u64,
    pub(crate) handles: usize,
}

impl State {
    /// The entry of a file a live cursor (or a region) keeps open.
    pub(crate) fn entry(&mut self, id: FileId) -> &mut Entry {
        self.files
            .get_mut(id)
            .and_then(Option::as_mut)
            .expect("a live cursor keeps its file entry")
    }

    /// Closes file `id` if it has neither cursors nor regions left.
    pub(crate) fn close_if_idle(&mut self, id: FileId) {
        let Some(slot) = self.files.get_mut(id) else {
            return;
        };
        if let Some(entry) = slot {
            if entry.cursors == 0 && entry.regions.is_empty() {
                self.ids.remove(&entry.key);
                *slot = None;
                self.free_ids.push(id);
            }
        }
    }

    pub(crate) fn open(&self) -> impl Iterator<Item = &Entry> {
        self.files.iter().flatten()
    }

    /// Counts a newly mapped region `[begin, end)`.
    pub(crate) fn count_mapped(&mut self, begin: u64, end: u64, page: u64) {
        self.mapped += geometry::span(begin, end, page);
        self.mapped_len += end - begin;
        self.handles += 1;
    }

    /// Stops counting a region leaving the table.
    pub(crate) fn count_unmapped(&mut self, region: &Region, page: u64) {
        self.mapped -= geometry::span(region.begin(), region.end(), page);
        self.mapped_len -= region.end() - region.begin();
        self.handles -= 1;
    }
}

/// Records `tick` as the last use of `region`, if it is still in its file's table.
pub(crate) fn stamp(entry: &mut Entry, region: &Arc<Region>, tick: u64) {
    if let Some(i) = entry.index_of(region) {
        entry.regions[i].last_used = tick;
    }
}

/// Removes the least recently used unreferenced region of any file from the table and
/// returns it (the caller drops it, unmapping it, after the lock); closes its file if it
/// was the file's last region and no cursor remains. `None` if every region is in use.
pub(crate) fn evict_lru(state: &mut State, page: u64) -> Option<Arc<Region>> {
    let mut victim: Option<(u64, FileId, usize)> = None;
    for (id, entry) in state.files.iter_mut().enumerate() {
        let Some(entry) = entry else { continue };
        for (i, slot) in entry.regions.iter_mut().enumerate() {
            let older = match victim {
                Some((t, _, _)) => slot.last_used < t,
                None => true,
            };
            if older && Arc::get_mut(&mut slot.region).is_some() {
                victim = Some((slot.last_used, id, i));
            }
        }
    }
    let (_, id, i) = victim?;
    let slot = state.files[id].as_mut()?.regions.remove(i);
    state.close_if_idle(id);
    state.count_unmapped(&slot.region, page);
    Some(slot.region)
}
