//! The picture `sharena map` draws: the pool as rows of cells, left to
//! right and top to bottom, each cell coloured by what holds most of its
//! bytes (free, or a used block's owner, shared, cached, remote), with a
//! legend, the totals and the fragmentation figure. Plain SVG written by
//! hand; the cell grid bounds its size whatever the number of runs.

use crate::size::human;
use sharena::{Run, RunKind};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Cells per row (one pixel each).
const COLS: u64 = 840;
/// The most rows.
const ROWS: u64 = 48;
/// Row height and the gap under it, in pixels.
const ROW_H: u64 = 10;
const ROW_GAP: u64 = 2;
/// Left margin (row labels) and top margin (title), in pixels.
const LEFT: u64 = 96;
const TOP: u64 = 78;
/// Legend entries per line, and the most owners listed by name.
const LEGEND_COLS: u64 = 3;
const MAX_OWNERS_LISTED: usize = 12;

/// One colour per owner of used blocks (cycled past the end).
const OWNER_COLOURS: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39",
];
const FREE: &str = "#d4d4d4";
const SHARED: &str = "#6a3d9a";
const CACHED: &str = "#a6cee3";
const REMOTE: &str = "#fdbf6f";
const NO_OWNER: &str = "#444444";

/// What the picture is of.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    /// The segment's name or path.
    pub name: &'a str,
    /// The allocator kind's name.
    pub kind: &'a str,
    /// The segment's length in bytes.
    pub segment_len: u64,
    /// The pool's segment offset and length.
    pub pool_offset: u64,
    /// As above.
    pub pool_len: u64,
    /// The allocator's used bytes (from its statistics).
    pub used: u64,
    /// The allocator's capacity (from its statistics).
    pub capacity: u64,
}

/// What a cell (or a legend entry) shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Used(u32),
    Shared,
    Cached,
    Remote,
    Free,
}

impl Key {
    fn of(r: &Run) -> Key {
        match r.kind {
            RunKind::Free => Key::Free,
            RunKind::Used => Key::Used(r.owner),
            RunKind::Shared => Key::Shared,
            RunKind::Cached => Key::Cached,
            RunKind::Remote => Key::Remote,
        }
    }

    fn colour(self, owners: &BTreeMap<u32, usize>) -> &'static str {
        match self {
            Key::Free => FREE,
            Key::Shared => SHARED,
            Key::Cached => CACHED,
            Key::Remote => REMOTE,
            Key::Used(0) => NO_OWNER,
            Key::Used(o) => {
                OWNER_COLOURS[owners.get(&o).copied().unwrap_or(0) % OWNER_COLOURS.len()]
            }
        }
    }

    fn label(self) -> String {
        match self {
            Key::Free => "free".into(),
            Key::Shared => "shared (published)".into(),
            Key::Cached => "free, in a process cache".into(),
            Key::Remote => "freed remotely, not yet taken in".into(),
            Key::Used(0) => "used, no owner recorded".into(),
            Key::Used(o) => format!("used by owner {o}"),
        }
    }
}

/// Free space figures from the runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FreeSpace {
    /// Bytes in free runs.
    pub free: u64,
    /// The longest free run.
    pub largest: u64,
    /// `1 - largest / free` (0 when nothing is free).
    pub fragmentation: f64,
}

/// The free space of `runs` (free runs only; cached blocks are not
/// available to every process).
pub fn free_space(runs: &[Run]) -> FreeSpace {
    let (free, largest) = runs
        .iter()
        .filter(|r| r.kind == RunKind::Free)
        // Saturating: the runs of a corrupt segment may overlap or claim
        // more than the pool.
        .fold((0u64, 0u64), |(f, l), r| {
            (f.saturating_add(r.len), l.max(r.len))
        });
    let fragmentation = if free == 0 {
        0.0
    } else {
        1.0 - largest as f64 / free as f64
    };
    FreeSpace {
        free,
        largest,
        fragmentation,
    }
}

/// The cell grid: each cell's key (None: no run covers it).
struct Grid {
    bytes_per_cell: u64,
    rows: u64,
    cells: Vec<Option<Key>>,
}

impl Grid {
    fn new(s: &Subject<'_>, runs: &[Run]) -> Grid {
        let pool = s.pool_len.max(1);
        let bytes_per_cell = pool.div_ceil(COLS * ROWS).max(1);
        let rows = pool.div_ceil(bytes_per_cell * COLS).clamp(1, ROWS);
        let n = (rows * COLS) as usize;
        let mut cells = vec![None; n];
        // The bytes each key holds in the cell being filled; runs come in
        // offset order, so one cell is filled at a time.
        let mut current: Option<usize> = None;
        let mut acc: Vec<(Key, u64)> = Vec::new();
        let mut flush = |cell: Option<usize>, acc: &mut Vec<(Key, u64)>| {
            if let Some(c) = cell {
                if let Some(&(k, _)) = acc.iter().max_by_key(|(k, b)| (*b, std::cmp::Reverse(*k))) {
                    cells[c] = Some(k);
                }
            }
            acc.clear();
        };
        for r in runs {
            let key = Key::of(r);
            // Clip the run to the pool: a run outside it is not drawn.
            let start = r.offset.max(s.pool_offset);
            let end = r
                .offset
                .saturating_add(r.len)
                .min(s.pool_offset + s.pool_len);
            let mut at = start.saturating_sub(s.pool_offset);
            let end = end.saturating_sub(s.pool_offset);
            while at < end {
                let cell = (at / bytes_per_cell) as usize;
                if cell >= n {
                    break;
                }
                let take = end.min((cell as u64 + 1) * bytes_per_cell) - at;
                if current != Some(cell) {
                    flush(current, &mut acc);
                    current = Some(cell);
                }
                match acc.iter_mut().find(|(k, _)| *k == key) {
                    Some(e) => e.1 += take,
                    None => acc.push((key, take)),
                }
                at += take;
            }
        }
        flush(current, &mut acc);
        Grid {
            bytes_per_cell,
            rows,
            cells,
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Draws the map. `runs` is None when the allocator cannot list its runs
/// (the picture then shows the totals only, and says so); `truncated` says
/// the runs stop before the end of the pool.
#[allow(clippy::many_single_char_names)]
pub fn render(s: &Subject<'_>, runs: Option<&[Run]>, truncated: bool) -> String {
    let width = LEFT + COLS + 24;
    let mut body = String::new();
    let mut notes: Vec<String> = Vec::new();
    let title = format!(
        "sharena map: {} ({}, {} segment, {} pool)",
        s.name,
        s.kind,
        human(s.segment_len),
        human(s.pool_len)
    );
    let mut y = TOP;
    let mut legend: Vec<(&'static str, String)> = Vec::new();
    let summary;
    if let Some(runs) = runs {
        let fs = free_space(runs);
        let grid = Grid::new(s, runs);
        // Owners in order of first appearance get the palette in order.
        let mut owners: BTreeMap<u32, usize> = BTreeMap::new();
        let mut totals: BTreeMap<Key, u64> = BTreeMap::new();
        for r in runs {
            if let Key::Used(o) = Key::of(r) {
                let next = owners.len();
                owners.entry(o).or_insert(next);
            }
            *totals.entry(Key::of(r)).or_default() += r.len;
        }
        let used_runs = runs.iter().filter(|r| r.kind != RunKind::Free).count();
        summary = format!(
            "used {} ({:.1}% of the pool) · free {} · largest free run {} · fragmentation {:.1}% (1 − largest free run / free bytes)",
            human(s.used),
            pct(s.used, s.pool_len),
            human(fs.free),
            human(fs.largest),
            100.0 * fs.fragmentation
        );
        notes.push(format!(
            "{} runs ({} not free). Each row is {} of the pool, left to right; each pixel column is {}, coloured by what holds most of its bytes.",
            runs.len(),
            used_runs,
            human(grid.bytes_per_cell * COLS),
            human(grid.bytes_per_cell)
        ));
        if truncated {
            notes.push("Only the first runs were listed: the pool past them is left white.".into());
        }
        for row in 0..grid.rows {
            let ry = y + row * (ROW_H + ROW_GAP);
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" class="lab" text-anchor="end">+{}</text>"#,
                LEFT - 6,
                ry + ROW_H - 1,
                human(row * COLS * grid.bytes_per_cell)
            );
            let _ = writeln!(
                body,
                r##"<rect x="{LEFT}" y="{ry}" width="{COLS}" height="{ROW_H}" fill="#ffffff" stroke="#bbbbbb" stroke-width="0.5"/>"##
            );
            let cells = &grid.cells[(row * COLS) as usize..((row + 1) * COLS) as usize];
            let mut c = 0;
            while c < cells.len() {
                let k = cells[c];
                let mut e = c + 1;
                while e < cells.len() && cells[e] == k {
                    e += 1;
                }
                if let Some(k) = k {
                    let _ = writeln!(
                        body,
                        r#"<rect x="{}" y="{ry}" width="{}" height="{ROW_H}" fill="{}"/>"#,
                        LEFT + c as u64,
                        e - c,
                        k.colour(&owners)
                    );
                }
                c = e;
            }
        }
        y += grid.rows * (ROW_H + ROW_GAP) + 14;
        let mut listed = 0;
        let mut unlisted = 0;
        for (k, bytes) in &totals {
            if matches!(k, Key::Used(o) if *o != 0) {
                listed += 1;
                if listed > MAX_OWNERS_LISTED {
                    unlisted += 1;
                    continue;
                }
            }
            legend.push((
                k.colour(&owners),
                format!(
                    "{}: {} ({:.1}%)",
                    k.label(),
                    human(*bytes),
                    pct(*bytes, s.pool_len)
                ),
            ));
        }
        if unlisted > 0 {
            notes.push(format!(
                "{unlisted} more owners are not listed (colours repeat every {}).",
                OWNER_COLOURS.len()
            ));
        }
    } else {
        summary = format!(
            "used {} of {} ({:.1}%) · fragmentation unknown",
            human(s.used),
            human(s.capacity),
            pct(s.used, s.capacity)
        );
        notes.push(format!(
            "The {} allocator cannot list its runs in this build: totals only.",
            s.kind
        ));
        let w = (COLS as f64 * pct(s.used, s.capacity) / 100.0).round() as u64;
        let h = 3 * ROW_H;
        let _ = writeln!(
            body,
            r##"<rect x="{LEFT}" y="{y}" width="{COLS}" height="{h}" fill="{FREE}" stroke="#bbbbbb" stroke-width="0.5"/>"##
        );
        let _ = writeln!(
            body,
            r#"<rect x="{LEFT}" y="{y}" width="{w}" height="{h}" fill="{}"/>"#,
            OWNER_COLOURS[0]
        );
        y += h + 14;
        legend.push((OWNER_COLOURS[0], format!("used: {}", human(s.used))));
        legend.push((
            FREE,
            format!("available: {}", human(s.capacity.saturating_sub(s.used))),
        ));
    }
    let col_w = (COLS + LEFT - 16) / LEGEND_COLS;
    for (i, (colour, label)) in legend.iter().enumerate() {
        let i = i as u64;
        let lx = 16 + (i % LEGEND_COLS) * col_w;
        let ly = y + (i / LEGEND_COLS) * 18;
        let _ = writeln!(
            body,
            r##"<rect x="{lx}" y="{ly}" width="12" height="12" fill="{colour}" stroke="#666666" stroke-width="0.5"/><text x="{}" y="{}" class="leg">{}</text>"##,
            lx + 18,
            ly + 10,
            esc(label)
        );
    }
    y += (legend.len() as u64).div_ceil(LEGEND_COLS) * 18 + 8;
    for n in &notes {
        let _ = writeln!(
            body,
            r#"<text x="16" y="{}" class="note">{}</text>"#,
            y + 10,
            esc(n)
        );
        y += 16;
    }
    let height = y + 12;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>.t{{font-size:16px;font-weight:bold}} .s{{font-size:12px}} .lab{{font-size:9px;fill:#555555}} .leg{{font-size:11px}} .note{{font-size:11px;fill:#555555}}</style>
<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>
<text x="16" y="26" class="t">{}</text>
<text x="16" y="48" class="s">{}</text>
<text x="16" y="66" class="note">pool offset {} to {} of the segment; rows start at the offset on their left (from the pool's start)</text>
{body}</svg>
"##,
        esc(&title),
        esc(&summary),
        s.pool_offset,
        s.pool_offset + s.pool_len
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(offset: u64, len: u64, kind: RunKind, owner: u32) -> Run {
        Run {
            offset,
            len,
            kind,
            owner,
        }
    }

    fn subject(pool_len: u64) -> Subject<'static> {
        Subject {
            name: "/map<&>",
            kind: "freelist",
            segment_len: pool_len + 4096,
            pool_offset: 4096,
            pool_len,
            used: pool_len / 2,
            capacity: pool_len,
        }
    }

    /// A fake pool: alternating owners with free gaps, one shared block
    /// and one cached run.
    pub fn fake_runs(pool_len: u64) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut at = 4096;
        let mut i = 0u32;
        while at < 4096 + pool_len {
            let len = (u64::from((i * 7919) % 13) + 1) * (pool_len / 200);
            let len = len.min(4096 + pool_len - at);
            let (kind, owner) = match i % 7 {
                0 | 3 => (RunKind::Free, 0),
                5 => (RunKind::Shared, 0),
                6 if i % 2 == 0 => (RunKind::Cached, 2),
                _ => (RunKind::Used, 1 + i % 4),
            };
            runs.push(run(at, len, kind, owner));
            at += len;
            i += 1;
        }
        runs
    }

    #[test]
    fn free_bytes_of_runs_past_u64_saturate() {
        let runs = [
            run(0, u64::MAX, RunKind::Free, 0),
            run(0, u64::MAX, RunKind::Free, 0),
        ];
        let fs = free_space(&runs);
        assert_eq!((fs.free, fs.largest), (u64::MAX, u64::MAX));
        assert!(fs.fragmentation.abs() < 1e-9, "{}", fs.fragmentation);
    }

    #[test]
    fn fragmentation_figure() {
        let runs = [
            run(0, 100, RunKind::Free, 0),
            run(100, 50, RunKind::Used, 1),
            run(150, 300, RunKind::Free, 0),
            run(450, 10, RunKind::Cached, 1),
        ];
        let fs = free_space(&runs);
        assert_eq!((fs.free, fs.largest), (400, 300));
        assert!((fs.fragmentation - 0.25).abs() < 1e-9);
        assert!(free_space(&[]).fragmentation.abs() < f64::EPSILON);
    }

    #[test]
    fn cells_take_the_dominant_key() {
        let s = subject(COLS * ROWS * 100);
        let runs = [
            run(4096, 60, RunKind::Used, 1),
            run(4096 + 60, 40, RunKind::Free, 0),
            run(4096 + 100, 30, RunKind::Free, 0),
            run(4096 + 130, 70, RunKind::Used, 3),
        ];
        let g = Grid::new(&s, &runs);
        assert_eq!(g.bytes_per_cell, 100);
        assert_eq!(g.rows, ROWS);
        assert_eq!(g.cells[0], Some(Key::Used(1)));
        assert_eq!(g.cells[1], Some(Key::Used(3)));
        assert_eq!(g.cells[2], None);
    }

    #[test]
    fn renders_well_formed_svg() {
        let s = subject(64 << 20);
        let runs = fake_runs(64 << 20);
        let svg = render(&s, Some(&runs), false);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("/map&lt;&amp;&gt;"), "the name is escaped");
        assert!(svg.contains("fragmentation"));
        assert!(svg.contains("used by owner 1"));
        assert!(svg.contains("shared (published)"));
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
        if let Ok(path) = std::env::var("SHARENA_MAP_SAMPLE") {
            std::fs::write(path, &svg).unwrap();
        }
        let fallback = render(&s, None, false);
        assert!(fallback.contains("totals only"));
        assert!(fallback.contains("fragmentation unknown"));
    }

    #[test]
    fn tiny_pools_and_stray_runs() {
        let s = subject(1000);
        let runs = [
            run(0, 6000, RunKind::Used, 9),
            run(1 << 40, 10, RunKind::Free, 0),
        ];
        let g = Grid::new(&s, &runs);
        assert_eq!((g.bytes_per_cell, g.rows), (1, 2));
        assert_eq!(g.cells[999], Some(Key::Used(9)));
        assert_eq!(g.cells[1000], None);
        let svg = render(&s, Some(&runs), true);
        assert!(svg.contains("Only the first runs"));
    }
}
