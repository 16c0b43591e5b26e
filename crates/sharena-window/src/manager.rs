//! The manager: every mapped region of every file, the budgets, and least-recently-used
//! eviction, behind one `std::sync::Mutex`.
//!
//! Lock discipline: every change to the region table, the counters and the recency ticks
//! happens under the lock, and so does every `mmap`. Unmapping (dropping the last `Arc` of
//! an evicted region) happens after the lock is released. A cursor reads the bytes of the
//! region it holds without the lock: the manager never unmaps a region that a cursor holds.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::{Config, Flavour, Stats};
use crate::cursor::Cursor;
use crate::error::{Error, Result, Target};
use crate::geometry;
use crate::region::Region;
use crate::table::{evict_lru, stamp, Entry, FileId, Slot, State};

#[derive(Debug)]
struct Shared {
    config: Config,
    page: u64,
    state: Mutex<State>,
}

/// Maps windows of files for [`Cursor`]s, within a memory budget and a handle budget,
/// unmapping least-recently-used unreferenced regions to make room. `Clone` is cheap
/// (all clones are one manager) and it is `Send + Sync`: share it between threads.
///
/// # Safety contract
///
/// A mapped file is memory that the operating system may change under the program: if
/// another process (or another mapping in this one) writes a mapped byte, the `&[u8]` a
/// cursor handed out changes while borrowed, and if the file is truncated, reading a
/// mapped page past the new end raises `SIGBUS`. Rust cannot rule either out, exactly as
/// for memmap2's `Mmap`. [`Manager::new`] is therefore `unsafe`: its caller promises,
/// once for every file it will map through this manager, that those files are not
/// truncated, and not modified except through this manager's own writable windows, while
/// they are mapped. Every later call is safe.
#[derive(Clone, Debug)]
pub struct Manager {
    shared: Arc<Shared>,
}

/// One mapped region, as [`Manager::regions`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// The file, as the first cursor on it named it.
    pub file: Target,
    /// The file offsets mapped.
    pub window: Range<u64>,
    /// Whether a cursor or chunk uses it (so it cannot be unmapped now).
    pub in_use: bool,
    /// When it was last used, on the manager's clock (larger is more recent).
    pub last_used: u64,
}

/// What a cursor asks [`Manager::acquire`] for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    /// The offset the region must contain.
    pub offset: u64,
    /// End of the requested bytes (not yet clipped to the file's size).
    pub req_end: u64,
    /// Whether to evict to make room; if not, a full budget answers [`Acquired::NoRoom`].
    pub evict: bool,
}

/// What [`Manager::acquire`] found.
pub(crate) enum Acquired {
    /// A region containing the offset.
    Region(Arc<Region>),
    /// No room without evicting, and the caller asked not to evict.
    NoRoom,
}

impl Manager {
    /// A manager that maps files as `config` says.
    ///
    /// # Safety
    ///
    /// See [the type-level contract](Manager#safety-contract): no file mapped through this
    /// manager may be truncated, or modified other than through this manager's writable
    /// windows, while a window of it is mapped.
    pub unsafe fn new(config: Config) -> Manager {
        // SAFETY: sysconf has no preconditions; it returns -1 only for unknown names.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let page = u64::try_from(page)
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        Manager {
            shared: Arc::new(Shared {
                config,
                page,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The configuration this manager was made with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Sliding or static.
    pub fn flavour(&self) -> Flavour {
        self.shared.config.flavour()
    }

    /// The system page size, to which windows are aligned.
    pub fn page_size(&self) -> u64 {
        self.shared.page
    }

    /// A cursor over the file at `path`. Fails for a missing path, a directory, a file
    /// that is not regular, or one the manager may not open (read-only, or read-write for
    /// a writable manager). Maps nothing yet.
    pub fn cursor(&self, path: impl AsRef<Path>) -> Result<Cursor> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(self.shared.config.is_writable())
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => Error::NotFound { path: path.into() },
                io::ErrorKind::PermissionDenied => Error::PermissionDenied { path: path.into() },
                io::ErrorKind::IsADirectory => Error::IsADirectory {
                    target: Target::Path(path.into()),
                },
                _ => Error::Io {
                    op: "open",
                    target: Target::Path(path.into()),
                    source: e,
                },
            })?;
        self.register(file, Target::Path(path.into()))
    }

    /// A cursor over the open file `fd`. The manager keeps its own duplicate of the
    /// descriptor, so `fd` may be closed afterwards; [`Cursor::fd`] still reports the
    /// number given here. Fails for a directory or a file that is not regular.
    pub fn cursor_fd(&self, fd: impl AsFd) -> Result<Cursor> {
        let fd = fd.as_fd();
        let target = Target::Fd(fd.as_raw_fd());
        let owned = fd.try_clone_to_owned().map_err(|source| Error::Io {
            op: "duplicate",
            target: target.clone(),
            source,
        })?;
        self.register(File::from(owned), target)
    }

    /// Checks the file's kind and enters it (or finds it) in the table.
    fn register(&self, file: File, target: Target) -> Result<Cursor> {
        let meta = file.metadata().map_err(|source| Error::Io {
            op: "stat",
            target: target.clone(),
            source,
        })?;
        if meta.is_dir() {
            return Err(Error::IsADirectory { target });
        }
        if !meta.is_file() {
            return Err(Error::NotARegularFile { target });
        }
        let key = (meta.dev(), meta.ino());
        let (id, file) = {
            let mut state = self.lock();
            let state = &mut *state;
            let id = if let Some(&id) = state.ids.get(&key) {
                id
            } else {
                let entry = Entry {
                    key,
                    file: Arc::new(file),
                    target: target.clone(),
                    cursors: 0,
                    size: meta.len(),
                    regions: Vec::new(),
                };
                let id = if let Some(id) = state.free_ids.pop() {
                    state.files[id] = Some(entry);
                    id
                } else {
                    state.files.push(Some(entry));
                    state.files.len() - 1
                };
                state.ids.insert(key, id);
                id
            };
            let entry = state.entry(id);
            entry.cursors += 1;
            (id, Arc::clone(&entry.file))
        };
        Ok(Cursor::new(self.clone(), id, file, target))
    }

    /// Unmaps every region no cursor uses, closes files left without cursors or regions,
    /// and returns how many regions it unmapped.
    pub fn collect(&self) -> usize {
        let mut freed = Vec::new();
        {
            let mut state = self.lock();
            let state = &mut *state;
            for entry in state.files.iter_mut().flatten() {
                entry.regions.retain_mut(|slot| {
                    if Arc::get_mut(&mut slot.region).is_some() {
                        freed.push(Arc::clone(&slot.region));
                        false
                    } else {
                        true
                    }
                });
            }
            for region in &freed {
                state.count_unmapped(region, self.shared.page);
            }
            for id in 0..state.files.len() {
                state.close_if_idle(id);
            }
        }
        // The regions unmap here, outside the lock.
        freed.len()
    }

    /// The manager's counters now.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let handles_in_use = state
            .open()
            .flat_map(|e| &e.regions)
            .filter(|s| Arc::strong_count(&s.region) > 1)
            .count();
        Stats {
            open_files: state.open().filter(|e| !e.regions.is_empty()).count(),
            descriptors: state.open().count(),
            handles: state.handles,
            handles_in_use,
            mapped_bytes: state.mapped_len,
            mapped_page_bytes: state.mapped,
            memory_budget: self.shared.config.get_memory_budget(),
            handle_budget: self.shared.config.get_handle_budget(),
            window_size: self.shared.config.get_window_size(),
        }
    }

    /// Every mapped region with its recency, least recently used first: the order in
    /// which eviction would take the unused ones. For inspection and tests; takes the lock.
    pub fn regions(&self) -> Vec<RegionInfo> {
        let state = self.lock();
        let mut out: Vec<RegionInfo> = state
            .open()
            .flat_map(|e| {
                e.regions.iter().map(|s| RegionInfo {
                    file: e.target.clone(),
                    window: s.begin..s.end,
                    in_use: Arc::strong_count(&s.region) > 1,
                    last_used: s.last_used,
                })
            })
            .collect();
        out.sort_by_key(|r| (r.last_used, r.window.start));
        out
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held with the state half-updated, so a
        // poisoned lock still guards a consistent state.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Gives back `previous` (stamping its last use) and finds or maps a region of file
    /// `id` for `request`.
    pub(crate) fn acquire(
        &self,
        id: FileId,
        target: &Target,
        previous: Option<Arc<Region>>,
        request: Request,
    ) -> Result<Acquired> {
        let Request {
            offset,
            req_end,
            evict,
        } = request;
        let page = self.shared.page;
        let config = &self.shared.config;
        // Declared before the guard, so that what it holds is unmapped after unlocking.
        let mut freed: Vec<Arc<Region>> = Vec::new();
        let mut guard = self.lock();
        let state = &mut *guard;
        state.tick += 1;
        let (tick, handles, mapped) = (state.tick, state.handles, state.mapped);
        let entry = state.entry(id);
        if let Some(previous) = previous {
            stamp(entry, &previous, tick);
        }
        // A region of the file already holds the offset: share it.
        if let Some(i) = entry.holding(offset) {
            let slot = &mut entry.regions[i];
            if slot.region.is_writable() && Arc::get_mut(&mut slot.region).is_none() {
                return Err(Error::RegionInUse {
                    begin: slot.begin,
                    end: slot.end,
                });
            }
            slot.last_used = tick;
            return Ok(Acquired::Region(Arc::clone(&slot.region)));
        }
        let file = Arc::clone(&entry.file);
        // No room without evicting: say so without an `fstat`, from the size last read.
        // A stale size can only make this answer `NoRoom` where a window would have fit
        // (a file that shrank), and `NoRoom` is always a correct answer: the caller reads
        // the bytes another way. A request past the size last read goes on to read it.
        if !evict {
            if handles >= config.get_handle_budget() {
                return Ok(Acquired::NoRoom);
            }
            let known = entry.size;
            if offset < known {
                let gap = entry.gap(offset, known);
                let (begin, end) = geometry::place(
                    offset,
                    req_end.min(known),
                    config.get_window_size(),
                    page,
                    gap,
                );
                if mapped + geometry::span(begin, end, page) > config.get_memory_budget() {
                    return Ok(Acquired::NoRoom);
                }
            }
        }
        // A new window: read the file's size now (it may have grown or shrunk).
        let file_size = file
            .metadata()
            .map_err(|source| Error::Io {
                op: "stat",
                target: target.clone(),
                source,
            })?
            .len();
        let entry = state.entry(id);
        entry.size = file_size;
        if offset >= file_size {
            return Err(Error::OffsetPastEnd { offset, file_size });
        }
        // Regions past a shrunken end of file are stale; unmap those nobody uses.
        let stale = freed.len();
        while let Some(last) = entry.regions.last_mut() {
            if last.end <= file_size || Arc::get_mut(&mut last.region).is_none() {
                break;
            }
            freed.extend(entry.regions.pop().map(|s| s.region));
        }
        for region in &freed[stale..] {
            state.count_unmapped(region, page);
        }
        let gap = state.entry(id).gap(offset, file_size);
        let req_end = req_end.min(file_size);
        let (begin, end) = geometry::place(offset, req_end, config.get_window_size(), page, gap);

        // Room for one more handle, then for the bytes: least recently used regions go
        // first; if the bytes still do not fit, the window shrinks around the offset.
        let budget = config.get_memory_budget();
        while state.handles >= config.get_handle_budget()
            || state.mapped + geometry::span(begin, end, page) > budget
        {
            if !evict {
                return Ok(Acquired::NoRoom);
            }
            match evict_lru(state, page) {
                Some(region) => freed.push(region),
                None if state.handles >= config.get_handle_budget() => {
                    return Err(Error::FileBudgetExhausted {
                        handles: state.handles,
                        budget: config.get_handle_budget(),
                    });
                }
                None => break,
            }
        }
        // A soft budget (smmap's) maps the whole window past the budget when every
        // region left is in use; a hard one shrinks the window to what fits.
        let room = if config.is_soft_memory_budget() {
            u64::MAX
        } else {
            budget.saturating_sub(state.mapped)
        };
        let Some((begin, end)) = geometry::shrink(begin, end, offset, room, page) else {
            return Err(Error::BudgetExhausted {
                needed: geometry::span(offset, offset + 1, page),
                mapped: state.mapped,
                budget,
            });
        };

        // SAFETY: the file belongs to this manager, whose creator promised (the contract
        // of `Manager::new`) not to truncate or modify it behind our back while mapped.
        let region =
            unsafe { Region::map(&file, begin, end, config.is_writable(), config.get_hint()) }
                .map_err(|source| Error::Io {
                    op: "map",
                    target: target.clone(),
                    source,
                })?;
        let region = Arc::new(region);
        state.count_mapped(begin, end, page);
        // Eviction may have removed regions of this file: place it afresh.
        let entry = state.entry(id);
        let at = entry.after(offset);
        entry.regions.insert(
            at,
            Slot {
                begin,
                end,
                region: Arc::clone(&region),
                last_used: tick,
            },
        );
        Ok(Acquired::Region(region))
    }

    /// Gives back a cursor's region, stamping its last use.
    pub(crate) fn release(&self, id: FileId, region: Arc<Region>) {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        stamp(state.entry(id), &region, tick);
        // Our reference goes under the lock, so the table never sees a stale count.
        drop(region);
    }

    /// A cursor on file `id` goes away, giving back `region` if it held one.
    pub(crate) fn close_cursor(&self, id: FileId, region: Option<Arc<Region>>) {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        let entry = state.entry(id);
        if let Some(region) = region {
            stamp(entry, &region, tick);
        }
        entry.cursors -= 1;
        state.close_if_idle(id);
    }
}
