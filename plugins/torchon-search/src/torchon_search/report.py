"""``report.html``: one self-contained page (inline SVG, no scripts, no network) per search or experiment.

For each stage: the best trials (table), the metric over steps for every trial (one line each), and parallel
coordinates of the hyperparameters against the metric (one line per finished trial, coloured by the metric, best
darkest). Elements carry ``class``/``data-`` attributes so tests can check what is drawn.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchon_search.records import TrialRecord, rank, sort_key

__all__ = ["write_report"]

W, H, PAD = 720, 320, 48
_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg.plot { border: 1px solid #ddd; background: #fff; } .axis { stroke: #555; stroke-width: 1; }
.label { font-size: 11px; fill: #333; } .series { fill: none; stroke-width: 1.6; opacity: 0.85; }
.muted { color: #777; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return html.escape(str(value))


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    if hi == lo:
        return lambda v: (a + b) / 2
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


def _curves(records: Sequence[TrialRecord], metric: str) -> str:
    series = []
    for r in records:
        points = [
            (int(e["step"]), float(e["metrics"][metric]))
            for e in r.history
            if metric in e.get("metrics", {}) and math.isfinite(float(e["metrics"][metric]))
        ]
        if points:
            series.append((r, points))
    if not series:
        return f'<p class="muted">No trial reported {html.escape(metric)} yet.</p>'
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    sx = _scale(min(xs), max(xs), PAD, W - PAD / 2)
    sy = _scale(min(ys), max(ys), H - PAD, PAD / 2)
    out = [
        f'<svg class="plot" data-plot="curves" data-series="{len(series)}" width="{W}" height="{H}" viewBox="0 0 {W} {H}">'
    ]
    out.append(f'<line class="axis" x1="{PAD}" y1="{H - PAD}" x2="{W - PAD / 2}" y2="{H - PAD}"/>')
    out.append(f'<line class="axis" x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{H - PAD}"/>')
    out.append(f'<text class="label" x="{W / 2}" y="{H - 12}">step</text>')
    out.append(f'<text class="label" x="4" y="{PAD / 2 - 6}">{html.escape(metric)}</text>')
    for value, y in ((min(ys), H - PAD), (max(ys), PAD / 2)):
        out.append(f'<text class="label" x="4" y="{y + 4}">{_fmt(value)}</text>')
    for value, x in ((min(xs), PAD), (max(xs), W - PAD / 2)):
        out.append(f'<text class="label" x="{x - 4}" y="{H - PAD + 16}">{value}</text>')
    for r, pts in series:
        color = _PALETTE[r.number % len(_PALETTE)]
        if len(pts) == 1:  # one point: a dot, so a one-step trial still shows
            x, y = sx(pts[0][0]), sy(pts[0][1])
            out.append(
                f'<circle class="series" data-trial="{r.number}" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}" stroke="{color}"/>'
            )
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(
            f'<polyline class="series" data-trial="{r.number}" points="{path}" stroke="{color}"><title>trial {r.number} ({r.status})</title></polyline>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _parallel(records: Sequence[TrialRecord], metric: str, mode: str) -> str:
    done = [r for r in records if r.value is not None and math.isfinite(r.value)]
    params = list(dict.fromkeys(k for r in done for k in r.params))
    if not done or not params:
        return '<p class="muted">Parallel coordinates need finished trials with hyperparameters.</p>'
    axes = [*params, metric]
    n = len(axes)
    xs = [PAD + i * (W - 2 * PAD) / max(1, n - 1) for i in range(n)]
    scales: list[tuple[Any, list[tuple[Any, float]]]] = []
    for name in axes:
        values = [r.value if name == metric else r.params.get(name) for r in done]
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numeric) == len([v for v in values if v is not None]) and numeric:
            lo, hi = min(numeric), max(numeric)
            log = name != metric and lo > 0 and hi / lo > 100
            f = (lambda v: math.log10(v)) if log else (lambda v: v)
            s = _scale(f(lo), f(hi), H - PAD, PAD / 2)
            scales.append((lambda v, s=s, f=f: s(f(v)), [(lo, s(f(lo))), (hi, s(f(hi)))]))
        else:
            cats = sorted({str(v) for v in values if v is not None})
            s = _scale(0, max(1, len(cats) - 1), H - PAD, PAD / 2)
            scales.append(
                (lambda v, s=s, cats=cats: s(cats.index(str(v))), [(c, s(i)) for i, c in enumerate(cats)])
            )
    ordered = sorted(done, key=lambda r: sort_key(r, mode))
    out = [
        f'<svg class="plot" data-plot="parallel" data-series="{len(done)}" width="{W}" height="{H}" viewBox="0 0 {W} {H}">'
    ]
    for i, name in enumerate(axes):
        out.append(f'<line class="axis" x1="{xs[i]:.1f}" y1="{PAD / 2}" x2="{xs[i]:.1f}" y2="{H - PAD}"/>')
        out.append(
            f'<text class="label" x="{xs[i] - 20:.1f}" y="{H - PAD + 18}">{html.escape(name[-24:])}</text>'
        )
        for tick, y in scales[i][1][:8]:
            out.append(f'<text class="label" x="{xs[i] + 3:.1f}" y="{y + 4:.1f}">{_fmt(tick)[:14]}</text>')
    for rank_i, r in enumerate(reversed(ordered)):  # worst first, so the best are drawn on top
        shade = int(200 * (1 - (rank_i + 1) / len(ordered)))
        color = f"rgb({shade},{shade},{min(255, shade + 120)})"
        pts = []
        for i, name in enumerate(axes):
            value: Any = r.value if name == metric else r.params.get(name)
            if value is None:
                continue
            pts.append(f"{xs[i]:.1f},{scales[i][0](value):.1f}")
        out.append(
            f'<polyline class="series" data-trial="{r.number}" points="{" ".join(pts)}" stroke="{color}"><title>trial {r.number}: {_fmt(r.value)}</title></polyline>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _best_table(records: Sequence[TrialRecord], metric: str, mode: str) -> str:
    ranked = rank(records, mode)[:10]
    if not ranked:
        return '<p class="muted">No trial completed.</p>'
    params = list(dict.fromkeys(k for r in ranked for k in r.params))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["rank", "trial", metric, "steps", *params, "key"])
    rows = []
    for i, r in enumerate(ranked, 1):
        cells = [
            str(i),
            str(r.number),
            _fmt(r.value),
            str(r.steps),
            *(_fmt(r.params.get(p, "")) for p in params),
            r.key,
        ]
        rows.append("<tr>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
    return f'<table class="best"><tr>{head}</tr>{"".join(rows)}</table>'


def _counts(records: Sequence[TrialRecord]) -> str:
    counts: dict[str, int] = {}
    for r in records:
        key = "cached" if r.cached and r.status == "completed" else r.status
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def write_report(path: Path, driver: Any, *, title: str) -> None:
    """Write the report of everything ``driver`` ran to ``path`` (atomically)."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>")
    for name, records in driver.records.items():
        stage = driver.stages[name]
        metric, mode = stage.options.metric or "value", stage.options.mode
        parts.append(f'<section class="stage" data-stage="{html.escape(name)}"><h2>{html.escape(name)}</h2>')
        parts.append(
            f"<p>{len(records)} trial(s): {_counts(records)}. Metric <b>{html.escape(metric)}</b> ({mode}).</p>"
        )
        parts.append("<h3>Best trials</h3>" + _best_table(records, metric, mode))
        parts.append(f"<h3>{html.escape(metric)} over steps</h3>" + _curves(records, metric))
        parts.append("<h3>Parallel coordinates</h3>" + _parallel(records, metric, mode))
        failed = [r for r in records if r.status == "failed"]
        if failed:
            items = "".join(f"<li>trial {r.number}: {html.escape(r.error or '')}</li>" for r in failed[:20])
            parts.append(f"<h3>Failed trials</h3><ul class='failed'>{items}</ul>")
        parts.append("</section>")
    parts.append("</body></html>")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
