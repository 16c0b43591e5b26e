#!/usr/bin/env python3
"""Turns `sharena bench --json` output into SVG bar charts.

    target/release/sharena bench --quick --json > run.jsonl
    python3 scripts/plot_bench.py run.jsonl docs/plots

Input: one JSON object per line (RESULT lines: subject wl P ops secs rate
unit ratio_to ratio ratios; FRAG lines: footprint_over_live and its bars).
Output, in the output folder:
  rates-<WL>.svg   the rate of every subject, one group per process count
  ratios.svg       every ratio that has a bar (docs/WORKLOADS.md), with the bar
  frag.svg         footprint over live bytes after the fragmentation pass
  bars.md          the BAR lines as a Markdown table (the summary tables of
                   README.md and docs/BENCHMARKS.md are copied from it)
Standard library only; the SVG is written by hand.
"""

import json
import sys
from collections import OrderedDict
from html import escape
from pathlib import Path

OURS = {"bump", "slab", "freelist", "handles"}
OURS_COLOUR = "#1f77b4"
BASE_COLOUR = "#9e9e9e"
MET = "#2ca02c"
MISSED = "#d62728"
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def ours(subject):
    return subject in OURS or subject.startswith("window")


def human_rate(v, unit):
    if unit == "MiB/s":
        return f"{v:,.0f} MiB/s"
    for div, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if v >= div:
            return f"{v / div:.1f}{suffix} {unit}"
    return f"{v:.0f} {unit}"


def hbar_chart(title, subtitle, rows, width=880, label_w=300, note=None):
    """rows: list of (label, value, text, colour, marker or None); a group
    header row has value None."""
    bar_h, gap, top = 18, 6, 64
    vmax = max([r[1] for r in rows if r[1] is not None] + [r[4] or 0 for r in rows] + [1e-12])
    plot_w = width - label_w - 150
    y = top
    out = []
    for label, value, text, colour, marker in rows:
        if value is None:
            out.append(f'<text x="12" y="{y + 13}" font-size="13" font-weight="bold">{escape(label)}</text>')
            y += bar_h + 2
            continue
        w = max(1.0, plot_w * value / vmax)
        out.append(f'<text x="{label_w - 8}" y="{y + 13}" font-size="12" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        end = w
        if marker is not None:
            mx = label_w + plot_w * marker / vmax
            end = max(w, mx - label_w + 2)
            out.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y - 2}" y2="{y + bar_h + 2}" stroke="#000000" stroke-width="2" stroke-dasharray="3,2"/>')
        out.append(f'<text x="{label_w + end + 6:.1f}" y="{y + 13}" font-size="12">{escape(text)}</text>')
        y += bar_h + gap
    if note:
        y += 8
        out.append(f'<text x="12" y="{y + 10}" font-size="11" fill="#555555">{escape(note)}</text>')
        y += 16
    height = y + 16
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT}>\n'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>\n'
        f'<text x="12" y="24" font-size="16" font-weight="bold">{escape(title)}</text>\n'
        f'<text x="12" y="44" font-size="12" fill="#444444">{escape(subtitle)}</text>\n'
    )
    return head + "\n".join(out) + "\n</svg>\n"


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: plot_bench.py RUN.jsonl OUT_DIR\n")
        return 2
    results, frags, bar_lines = [], [], []
    with open(argv[1], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.stderr.write(f"plot_bench: line {n}: {e}\n")
                return 1
            kind = obj.get("line")
            if kind == "FRAG":
                frags.append(obj)
            elif kind == "BAR":
                bar_lines.append(obj)
            else:
                results.append(obj)
    if not results:
        sys.stderr.write("plot_bench: no RESULT lines in the input\n")
        return 1
    out = Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    written = []

    by_wl = OrderedDict()
    for r in results:
        by_wl.setdefault(r["wl"], []).append(r)
    for wl, rs in by_wl.items():
        rows = []
        for p in sorted({r["P"] for r in rs}):
            rows.append((f"{p} process" + ("es" if p > 1 else ""), None, "", "", None))
            for r in sorted((r for r in rs if r["P"] == p), key=lambda r: -r["rate"]):
                colour = OURS_COLOUR if ours(r["subject"]) else BASE_COLOUR
                text = human_rate(r["rate"], r.get("unit", "ops/s"))
                if r.get("errors"):
                    text += f"  ({r['errors']} errors)"
                rows.append((r["subject"], r["rate"], text, colour, None))
        svg = hbar_chart(
            f"{wl}: rate by subject (longer is faster)",
            "sharena in blue, baselines in grey; median of the run's repetitions",
            rows,
        )
        path = out / f"rates-{wl}.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)

    rows = []
    for r in results:
        for ratio in r.get("ratios") or []:
            if ratio.get("bar") is None:
                continue
            met = ratio["ratio"] >= ratio["bar"]
            rows.append((
                f"{r['wl']} P={r['P']} {r['subject']} / {ratio['to']}"
                + (f" (P={ratio['P']})" if ratio["P"] != r["P"] else ""),
                ratio["ratio"],
                f"{ratio['ratio']:.2f} (bar {ratio['bar']:.2f}: {'met' if met else 'missed'})",
                MET if met else MISSED,
                ratio["bar"],
            ))
    if rows:
        svg = hbar_chart(
            "Ratios against the baselines, with their bars",
            "green: at or past the bar (dashed line); red: short of it; measured in one run",
            rows,
            label_w=380,
        )
        path = out / "ratios.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)

    rows = []
    for fr in frags:
        bars = [b["max"] for b in fr.get("bars") or []]
        fol = fr["footprint_over_live"]
        colour = OURS_COLOUR if ours(fr["subject"]) else BASE_COLOUR
        if bars:
            colour = MET if fol <= bars[0] else MISSED
        rows.append((
            f"{fr['wl']} P={fr['P']} {fr['subject']}",
            fol,
            f"{fol:.3f}" + (f" (bar {bars[0]:.2f})" if bars else ""),
            colour,
            bars[0] if bars else None,
        ))
    if rows:
        svg = hbar_chart(
            "Footprint over live bytes at the peak (shorter is better)",
            "the fragmentation pass of W2/W3/W4; dashed line: the bar where there is one",
            rows,
        )
        path = out / "frag.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
    if bar_lines:
        path = out / "bars.md"
        path.write_text(bars_table(bar_lines), encoding="utf-8")
        written.append(path)
    for p in written:
        print(p)
    return 0


def bars_table(bar_lines):
    """The BAR lines as a Markdown table, in the runner's order."""
    rows = ["| workload | ratio | measured | bar |", "| --- | --- | ---: | --- |"]
    for b in bar_lines:
        if b.get("of") == "footprint_over_live":
            what = f"{b['subject']} P={b['P']} footprint / live"
            bar = f"<= {b['max']:.2f}"
        else:
            what = f"{b['subject']} P={b['P']} / {b['to']} P={b['to_P']}"
            bar = f">= {b['min']:.2f}"
        verdict = "met" if b["meets"] else "missed"
        rows.append(f"| {b['workload']} | {what} | {b['ratio']:.2f} | {bar}: {verdict} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
