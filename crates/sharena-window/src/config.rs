//! How a manager maps: window size, budgets, access mode, hint; and the counters it reports.

use crate::hint::Hint;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Default window size: 1 GiB on 64-bit targets, 64 MiB elsewhere (as smmap's).
pub const DEFAULT_WINDOW_SIZE: u64 = if cfg!(target_pointer_width = "64") {
    GIB
} else {
    64 * MIB
};

/// Default memory budget: 8 GiB on 64-bit targets, 1 GiB elsewhere (as smmap's).
pub const DEFAULT_MEMORY_BUDGET: u64 = if cfg!(target_pointer_width = "64") {
    8 * GIB
} else {
    GIB
};

/// The two flavours of manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// Windows of a fixed size slide over each file.
    Sliding,
    /// Each window is as large as it can be: a whole file (window size 0).
    Static,
}

/// How a [`Manager`](crate::Manager) maps files. Built with [`Config::sliding`] or
/// [`Config::static_files`], then adjusted:
///
/// ```
/// let config = sharena_window::Config::sliding().window_size(4 << 20).memory_budget(64 << 20);
/// assert_eq!(config.get_window_size(), 4 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    window_size: u64,
    memory_budget: u64,
    soft_budget: bool,
    handle_budget: usize,
    writable: bool,
    hint: Hint,
}

impl Config {
    /// Sliding windows with smmap's defaults: [`DEFAULT_WINDOW_SIZE`] windows, a
    /// [`DEFAULT_MEMORY_BUDGET`] memory budget (hard: see
    /// [`soft_memory_budget`](Config::soft_memory_budget)), no handle budget, read-only,
    /// no hint.
    pub fn sliding() -> Config {
        Config {
            window_size: DEFAULT_WINDOW_SIZE,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            soft_budget: false,
            handle_budget: usize::MAX,
            writable: false,
            hint: Hint::Normal,
        }
    }

    /// Whole files: a window maps as much of its file as it can (window size 0), under
    /// the default memory budget.
    pub fn static_files() -> Config {
        Config {
            window_size: 0,
            ..Config::sliding()
        }
    }

    /// Bytes per window, rounded up to whole pages; 0 maps whole files (the gap between
    /// neighbouring regions, which is the whole file when nothing else of it is mapped).
    /// A request larger than the window gets a window that covers it.
    pub fn window_size(mut self, bytes: u64) -> Config {
        self.window_size = bytes;
        self
    }

    /// Most bytes mapped at once, over all files, counted in whole pages as the kernel
    /// maps them ([`Stats::mapped_page_bytes`]). A hard budget (the default) is never
    /// exceeded: a window shrinks or the request fails instead.
    pub fn memory_budget(mut self, bytes: u64) -> Config {
        self.memory_budget = bytes;
        self
    }

    /// Makes the memory budget soft, as smmap's is: unused regions are still unmapped,
    /// least recently used first, to keep within it, but when only regions in use are
    /// left (which are never unmapped) a new window is mapped whole and the budget is
    /// passed until they are given back. `false` (the default) keeps it hard.
    pub fn soft_memory_budget(mut self, soft: bool) -> Config {
        self.soft_budget = soft;
        self
    }

    /// Most regions (mappings, smmap's "file handles") mapped at once, over all files.
    pub fn handle_budget(mut self, handles: usize) -> Config {
        self.handle_budget = handles;
        self
    }

    /// Opens files read-write and maps windows shared and writable; see
    /// [`Cursor::bytes_mut`](crate::Cursor::bytes_mut).
    pub fn read_write(mut self, writable: bool) -> Config {
        self.writable = writable;
        self
    }

    /// The hint applied with `madvise` to every new window.
    pub fn hint(mut self, hint: Hint) -> Config {
        self.hint = hint;
        self
    }

    /// Bytes per window (0: whole files).
    pub fn get_window_size(&self) -> u64 {
        self.window_size
    }

    /// The memory budget in bytes.
    pub fn get_memory_budget(&self) -> u64 {
        self.memory_budget
    }

    /// Whether the memory budget is soft.
    pub fn is_soft_memory_budget(&self) -> bool {
        self.soft_budget
    }

    /// The handle budget.
    pub fn get_handle_budget(&self) -> usize {
        self.handle_budget
    }

    /// Whether windows are writable.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The hint applied to new windows.
    pub fn get_hint(&self) -> Hint {
        self.hint
    }

    /// [`Flavour::Static`] for window size 0, else [`Flavour::Sliding`].
    pub fn flavour(&self) -> Flavour {
        if self.window_size == 0 {
            Flavour::Static
        } else {
            Flavour::Sliding
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::sliding()
    }
}

/// A snapshot of a manager's counters, from [`Manager::stats`](crate::Manager::stats).
///
/// `open_files`, `handles` and `mapped_bytes` count what smmap's counters of the same
/// names count; `descriptors`, `handles_in_use` and `mapped_page_bytes` are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Files with at least one region mapped (smmap's `num_open_files`). A cursor that
    /// has mapped nothing yet does not count.
    pub open_files: usize,
    /// Files whose descriptor the manager holds: those with a cursor or a mapped region.
    pub descriptors: usize,
    /// Regions mapped now (smmap's "file handles").
    pub handles: usize,
    /// Regions mapped now that some cursor or chunk uses.
    pub handles_in_use: usize,
    /// Bytes of files mapped now: the sum of the regions' lengths, a region at the end
    /// of a file ending there (smmap's `mapped_memory_size`).
    pub mapped_bytes: u64,
    /// Bytes mapped now in whole pages, as the kernel maps them: what the memory budget
    /// is checked against. At least `mapped_bytes`.
    pub mapped_page_bytes: u64,
    /// The memory budget.
    pub memory_budget: u64,
    /// The handle budget.
    pub handle_budget: usize,
    /// The window size (0: whole files).
    pub window_size: u64,
}
