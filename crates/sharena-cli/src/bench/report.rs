//! The output of `sharena bench` (docs/WORKLOADS.md, "Output"): one RESULT
//! line per timed figure and one FRAG line per fragmentation pass, or one
//! JSON object each with `--json`, with the ratios to the baselines that
//! docs/WORKLOADS.md ("Bars") sets bars against, and a BAR line per bar at
//! the end. A bar is evaluated only where both of its figures ran.

use sharena_testkit::bench::frag::Frag;
use sharena_testkit::bench::Figure;

/// A bar: `subject`'s rate must be at least `min` times `baseline`'s (at
/// `base_p` processes). `label` is the workload as docs/WORKLOADS.md
/// ("Bars") names it (W2P2 is `wl=W2 P=2`, W4 is `wl=W3 P=2`).
struct Bar {
    label: &'static str,
    subject: &'static str,
    baseline: &'static str,
    wl: &'static str,
    p: usize,
    base_p: usize,
    min: f64,
}

/// A fragmentation bar: `subject`'s footprint/live must be at most `max`.
struct FragBar {
    label: &'static str,
    subject: &'static str,
    wl: &'static str,
    p: usize,
    max: f64,
}

/// The bars of docs/WORKLOADS.md ("Bars"), in its order.
fn bars() -> Vec<Bar> {
    let b = |label, subject, baseline, wl, p, base_p, min| Bar {
        label,
        subject,
        baseline,
        wl,
        p,
        base_p,
        min,
    };
    vec![
        b("W1", "bump", "limit-bump-faa", "W1", 1, 1, 1.0),
        b("W1", "bump", "limit-bump-local", "W1", 1, 1, 0.8),
        b("W2", "slab", "limit-treiber-slab", "W2", 1, 1, 1.0),
        b("W2", "slab", "rts-alloc", "W2", 1, 1, 1.25),
        b("W2", "slab", "system", "W2", 1, 1, 1.0),
        b("W2P2", "slab", "slab", "W2", 2, 1, 1.8),
        b("W2P2", "slab", "rts-alloc", "W2", 2, 2, 1.0),
        b("W3", "freelist", "rts-alloc", "W3", 1, 1, 1.0),
        b("W3", "freelist", "mutex-shm", "W3", 1, 1, 1.5),
        b("W4", "freelist", "freelist", "W3", 2, 1, 1.8),
        b("W4", "freelist", "rts-alloc", "W3", 2, 2, 1.0),
        b("W5", "window-4m", "mmap-whole", "W5", 1, 1, 0.95),
        b("W5r", "window-64m-fit", "mmap-whole", "W5r", 1, 1, 0.9),
        b("W5r", "window-64m", "pread", "W5r", 1, 1, 1.0),
        b("pipeline", "queue", "pipe", "pipeline", 4, 4, 3.0),
        b("pipeline", "queue", "unix-socket", "pipeline", 4, 4, 3.0),
    ]
}

fn frag_bars() -> Vec<FragBar> {
    let b = |label, p| FragBar {
        label,
        subject: "freelist",
        wl: "W3",
        p,
        max: 1.15,
    };
    vec![b("W3", 1), b("W4", 2)]
}

fn rate_of(figs: &[Figure], subject: &str, wl: &str, p: usize) -> Option<f64> {
    let f = figs
        .iter()
        .find(|f| f.subject == subject && f.wl == wl && f.p == p && f.run.frag.is_none())?;
    Some(if f.unit == "MiB/s" {
        f.run.per_proc.first().copied().unwrap_or(0.0)
    } else {
        f.run.rate()
    })
}

/// Prints every figure, RESULT or FRAG, in order, then one BAR line per
/// bar both of whose figures ran.
pub fn print(figs: &[Figure], json: bool) {
    for f in figs {
        match f.run.frag {
            Some(frag) => print_frag(f, &frag, json),
            None => print_result(figs, f, json),
        }
    }
    print_bars(figs, json);
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets"
    } else {
        "MISSES"
    }
}

/// The summary: every bar of docs/WORKLOADS.md whose figures this run has,
/// with the measured ratio (medians of the same run) and the verdict.
fn print_bars(figs: &[Figure], json: bool) {
    for line in bar_lines(figs, json) {
        outln!("{line}");
    }
}

/// The BAR lines of [`print_bars`], text or JSON.
fn bar_lines(figs: &[Figure], json: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for b in bars() {
        let (Some(rate), Some(base)) = (
            rate_of(figs, b.subject, b.wl, b.p),
            rate_of(figs, b.baseline, b.wl, b.base_p),
        ) else {
            continue;
        };
        let ratio = if base > 0.0 { rate / base } else { 0.0 };
        let ok = ratio >= b.min;
        if json {
            lines.push(
                serde_json::json!({
                    "line": "BAR", "workload": b.label, "subject": b.subject, "wl": b.wl,
                    "P": b.p, "of": "rate", "to": b.baseline, "to_P": b.base_p,
                    "min": b.min, "ratio": ratio, "meets": ok,
                })
                .to_string(),
            );
        } else {
            lines.push(format!(
                "BAR    {} {} P={} >= {:.2}x {} P={}: ratio={:.2} {}",
                b.label,
                b.subject,
                b.p,
                b.min,
                b.baseline,
                b.base_p,
                ratio,
                verdict(ok)
            ));
        }
    }
    for b in frag_bars() {
        let Some(frag) = figs
            .iter()
            .find(|f| f.subject == b.subject && f.wl == b.wl && f.p == b.p && f.run.frag.is_some())
            .and_then(|f| f.run.frag)
        else {
            continue;
        };
        let fol = frag.footprint_over_live();
        let ok = fol <= b.max;
        if json {
            lines.push(
                serde_json::json!({
                    "line": "BAR", "workload": b.label, "subject": b.subject, "wl": b.wl,
                    "P": b.p, "of": "footprint_over_live", "max": b.max, "ratio": fol,
                    "meets": ok,
                })
                .to_string(),
            );
        } else {
            lines.push(format!(
                "BAR    {} {} P={} footprint/live <= {:.2}: ratio={:.3} {}",
                b.label,
                b.subject,
                b.p,
                b.max,
                fol,
                verdict(ok)
            ));
        }
    }
    lines
}

fn print_result(figs: &[Figure], f: &Figure, json: bool) {
    let rate = rate_of(figs, f.subject, f.wl, f.p).unwrap_or(0.0);
    let per_proc: Vec<String> = f.run.per_proc.iter().map(|r| format!("{r:.0}")).collect();
    let mut ratios: Vec<(&str, usize, f64, Option<f64>)> = bars()
        .iter()
        .filter(|b| b.subject == f.subject && b.wl == f.wl && b.p == f.p)
        .filter_map(|b| {
            let base = rate_of(figs, b.baseline, b.wl, b.base_p)?;
            Some((b.baseline, b.base_p, rate / base, Some(b.min)))
        })
        .collect();
    // Every multi-process figure gives its ratio to its own P=1 rate
    // (docs/WORKLOADS.md, W4), with or without a bar.
    if f.p > 1 && !ratios.iter().any(|r| r.0 == f.subject && r.1 == 1) {
        if let Some(base) = rate_of(figs, f.subject, f.wl, 1) {
            ratios.push((f.subject, 1, rate / base, None));
        }
    }
    let align = (f.align > 0).then_some(f.align);
    if json {
        let (ratio_to, ratio) = ratios
            .first()
            .map_or((None, None), |r| (Some(r.0), Some(r.2)));
        outln!(
            "{}",
            serde_json::json!({
                "line": "RESULT",
                "subject": f.subject, "wl": f.wl, "P": f.p, "ops": f.run.ops, "secs": f.run.secs,
                "rate": rate, "unit": f.unit, "per_proc": f.run.per_proc, "errors": f.run.errors,
                "oom": f.run.oom, "retries": f.run.retries, "crashed": f.run.crashed,
                "align": align, "ratio_to": ratio_to, "ratio": ratio,
                "bytes": f.bytes_checksum.map(|b| b.0), "checksum": f.bytes_checksum.map(|b| b.1),
                "ratios": ratios.iter().map(|r| serde_json::json!({"to": r.0, "P": r.1, "ratio": r.2, "bar": r.3})).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let mut tail = String::new();
    if f.unit != "ops/s" {
        tail = format!(" unit={}", f.unit);
    }
    if let Some(a) = align {
        tail = format!("{tail} align={a}");
    }
    outln!(
        "RESULT subject={} wl={} P={} ops={} secs={:.4} rate={:.0} per_proc={} errors={} oom={} retries={}{}",
        f.subject, f.wl, f.p, f.run.ops, f.run.secs, rate, per_proc.join(","), f.run.errors, f.run.oom, f.run.retries, tail
    );
    for (to, base_p, ratio, min) in ratios {
        let mut note: Vec<String> = Vec::new();
        if base_p != f.p {
            note.push(format!("at P={base_p}"));
        }
        if let Some(min) = min {
            note.push(format!("bar {min:.2}: {}", verdict(ratio >= min)));
        }
        outln!("  ratio_to={to} ratio={ratio:.2} ({})", note.join("; "));
    }
}

fn print_frag(f: &Figure, frag: &Frag, json: bool) {
    let bars: Vec<f64> = frag_bars()
        .iter()
        .filter(|b| b.subject == f.subject && b.wl == f.wl && b.p == f.p)
        .map(|b| b.max)
        .collect();
    let fol = frag.footprint_over_live();
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "line": "FRAG",
                "subject": f.subject, "wl": f.wl, "P": f.p, "ops": f.run.ops,
                "live_peak": frag.live_peak, "used_peak": frag.used_peak,
                "footprint_peak": frag.footprint_peak,
                "used_over_live": frag.used_over_live(), "footprint_over_live": fol,
                "errors": f.run.errors, "oom": f.run.oom, "crashed": f.run.crashed,
                "align": f.align, "ratio_to": "live_peak",
                "bars": bars.iter().map(|m| serde_json::json!({"of": "footprint_over_live", "max": m})).collect::<Vec<_>>(),
            })
        );
        return;
    }
    let na = || "n/a".to_string();
    outln!(
        "FRAG   subject={} wl={} P={} live_peak={} used_peak={} footprint_peak={} used_over_live={} footprint_over_live={:.3} errors={} oom={}",
        f.subject,
        f.wl,
        f.p,
        frag.live_peak,
        frag.used_peak.map_or_else(na, |u| u.to_string()),
        frag.footprint_peak,
        frag.used_over_live().map_or_else(na, |x| format!("{x:.3}")),
        fol,
        f.run.errors,
        f.run.oom,
    );
    for max in bars {
        outln!(
            "  footprint_over_live={fol:.3} (bar <= {max:.2}: {})",
            verdict(fol <= max)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharena_testkit::bench::harness::RunOut;

    fn fig(
        subject: &'static str,
        wl: &'static str,
        p: usize,
        ops: u64,
        frag: Option<Frag>,
    ) -> Figure {
        Figure {
            subject,
            wl,
            p,
            run: RunOut {
                ops,
                secs: 1.0,
                frag,
                ..RunOut::default()
            },
            unit: if frag.is_some() { "B" } else { "ops/s" },
            align: 0,
            bytes_checksum: None,
        }
    }

    /// Every bar whose two figures ran gets a line with the ratio of the
    /// two rates and its verdict; a bar with a missing figure gets none.
    #[test]
    fn bar_lines_give_ratio_and_verdict() {
        let frag = Frag {
            live_peak: 100,
            used_peak: None,
            footprint_peak: 120,
        };
        let figs = [
            fig("slab", "W2", 1, 300, None),
            fig("rts-alloc", "W2", 1, 200, None),
            fig("system", "W2", 1, 200, None),
            // The timed figure comes first, as in a run: the pass is found
            // past it.
            fig("freelist", "W3", 1, 500, None),
            fig("freelist", "W3", 1, 0, Some(frag)),
        ];
        let lines = bar_lines(&figs, false);
        assert_eq!(
            lines,
            [
                "BAR    W2 slab P=1 >= 1.25x rts-alloc P=1: ratio=1.50 meets",
                "BAR    W2 slab P=1 >= 1.00x system P=1: ratio=1.50 meets",
                "BAR    W3 freelist P=1 footprint/live <= 1.15: ratio=1.200 MISSES",
            ]
        );
        let json = bar_lines(&figs, true);
        assert_eq!(json.len(), 3);
        let v: serde_json::Value = serde_json::from_str(&json[2]).unwrap();
        assert_eq!(v["line"], "BAR");
        assert_eq!(v["workload"], "W3");
        assert_eq!(v["meets"], false);
        let v: serde_json::Value = serde_json::from_str(&json[0]).unwrap();
        assert_eq!(
            (v["to"].as_str(), v["min"].as_f64()),
            (Some("rts-alloc"), Some(1.25))
        );
    }
}
