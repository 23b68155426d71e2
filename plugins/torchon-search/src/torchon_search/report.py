"""``report.html``: the page a search or an experiment ends with, its charts drawn by Plotly.

Per stage: the metric over steps per trial (a legend of trial ids, hover values, pruned trials dashed and crossed
out; a bar per trial when each reported one step), parallel coordinates (log axes for log-scale parameters,
categorical axes for choices), each parameter against the metric, the parameters' importances (Optuna's), and the
best trials with links to their folders and bundles. An experiment's page adds its stage graph and the lineage of its
trials (which upstream variant each was built from, what ``reduce`` kept). Charts (:mod:`torchon_search.report_charts`)
with nothing to say are left out, and the page says why.

The page works offline: Plotly.js is written beside it as ``plotly.min.js`` (once; about 5 MB, so that a large
search's page stays small), or embedded in the page (``embed=True``, ``torchon report --embed``). ``report.json``
beside it keeps what the page needs besides the trials' own files, so ``torchon report RUN_DIR`` draws it again.
"""

from __future__ import annotations

import html
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchon_search.records import TrialRecord
from torchon_search.report_charts import Skipped, curves, dag, finished, importances, parallel, slices
from torchon_search.report_data import Report, Stage, from_driver, load_run, save_meta

__all__ = ["PLOTLY_JS", "render", "write_page", "write_report", "write_run_report"]

logger = logging.getLogger("torchon.search")

PLOTLY_JS = "plotly.min.js"
"""Plotly.js, written beside ``report.html``."""

BEST_ROWS = 10

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; max-width: 1200px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; font-size: 0.88em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.kept td:first-child { border-left: 4px solid #2ca02c; }
.chart { border: 1px solid #e4e4e4; margin: 0.8em 0; }
.muted, .skipped { color: #666; } .skipped { font-style: italic; }
.note { background: #fff8e1; border: 1px solid #f0d58c; padding: 0.4em 0.8em; }
#no-plotly { display: none; background: #fdecea; border: 1px solid #e0a5a0; padding: 0.6em; }
"""

_CHECK_PLOTLY = (
    "<script>if (typeof Plotly === 'undefined') { document.addEventListener('DOMContentLoaded', function () {"
    "document.getElementById('no-plotly').style.display = 'block'; }); }</script>"
)

_CHARTS: list[tuple[str, str, Callable[[Report, Stage], dict[str, Any] | Skipped]]] = [
    ("curves", "Metric over steps", curves),
    ("parallel", "Parallel coordinates", parallel),
    ("slices", "Each parameter against the metric", slices),
    ("importances", "Parameter importances", importances),
]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    return html.escape(str(value))


def _figure(fig: dict[str, Any], div_id: str) -> str:
    import plotly.io as pio

    config = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"filename": div_id}}
    return pio.to_html(
        fig, include_plotlyjs=False, full_html=False, validate=False, div_id=div_id, config=config
    )


def _link(record: TrialRecord, root: Path) -> str:
    folder = Path(record.dir)
    rel = Path(os.path.relpath(folder.resolve(), root.resolve())).as_posix()
    links = [f'<a href="{html.escape(rel)}/">folder</a>']
    if (folder / "output" / "manifest.json").is_file():
        links.append(f'<a class="bundle" href="{html.escape(rel)}/output/">bundle</a>')
    return " ".join(links)


def _sources(report: Report, record: TrialRecord) -> str:
    out = []
    for dep, key in record.inputs.items():
        up = report.find(dep, key)
        if up is None:
            out.append(f"{html.escape(dep)} {html.escape(key[:8])}")
        else:
            out.append(
                f'<a href="#{html.escape(dep)}-trial-{up.number}">{html.escape(dep)} trial {up.number}</a>'
            )
    return ", ".join(out)


def _best_table(report: Report, stage: Stage) -> str:
    ranked = finished(stage)
    if not ranked:
        return '<p class="muted">No trial completed.</p>'
    shown = ranked[:BEST_ROWS]
    kept = set(stage.kept or [])
    if stage.kept is not None:  # whatever went on is listed, even beyond the first rows
        shown += [r for r in ranked[BEST_ROWS:] if r.key in kept]
    params = list(dict.fromkeys(k for r in shown for k in r.params))
    head = ["rank", "trial", stage.metric, "steps", *params]
    if stage.deps:
        head.append("built from")
    if stage.kept is not None:
        head.append("went on")
    head += ["seconds", "files"]
    rows = []
    for r in shown:
        cells = [
            str(ranked.index(r) + 1),
            str(r.number),
            _fmt(r.value),
            str(r.steps),
            *(_fmt(r.params.get(p, "")) for p in params),
        ]
        if stage.deps:
            cells.append(_sources(report, r))
        if stage.kept is not None:
            cells.append("yes" if r.key in kept else "")
        cells += [_fmt(r.seconds), _link(r, report.root)]
        anchor = f"{html.escape(stage.name)}-trial-{r.number}"
        css = ' class="kept"' if r.key in kept else ""
        rows.append(
            f'<tr id="{anchor}"{css} data-trial="{r.number}">'
            + "".join(f'<td class="num">{c}</td>' for c in cells)
            + "</tr>"
        )
    more = f" (of {len(ranked)} completed)" if len(ranked) > len(shown) else ""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table class="best"><tr>{header}</tr>{"".join(rows)}</table><p class="muted">{len(shown)} shown{more}.</p>'


def _lineage(report: Report, stage: Stage) -> str:
    """Every trial of a downstream stage and the upstream trials it was built from."""
    rows = []
    for r in stage.records:
        value = "" if r.value is None or not math.isfinite(r.value) else _fmt(r.value)
        rows.append(
            f'<tr data-trial="{r.number}"><td class="num">{r.number}</td><td>{html.escape(r.status)}</td>'
            f'<td class="num">{value}</td><td>{_sources(report, r)}</td></tr>'
        )
    head = f"<tr><th>trial</th><th>status</th><th>{html.escape(stage.metric)}</th><th>built from</th></tr>"
    return f'<table class="lineage">{head}{"".join(rows)}</table>'


def _counts(records: list[TrialRecord]) -> str:
    counts: dict[str, int] = {}
    for r in records:
        key = "cached" if r.cached and r.status == "completed" else r.status
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"


def _stage(report: Report, stage: Stage) -> str:
    name = html.escape(stage.name)
    parts = [f'<section class="stage" id="stage-{name}" data-stage="{name}">']
    if report.kind == "Experiment":
        parts.append(f"<h2>Stage {name}</h2>")
    parts.append(
        f"<p>{len(stage.records)} trial(s): {_counts(stage.records)}. Metric <b>{html.escape(stage.metric)}</b> "
        f"({stage.mode}).</p>"
    )
    if stage.inferred:
        parts.append(f'<p class="note">Inferred from the trials: {", ".join(stage.inferred)}.</p>')
    if stage.deps:
        parts.append(f"<p>Built from stage(s) {', '.join(html.escape(d) for d in stage.deps)}.</p>")
    if stage.kept is not None:
        numbers = [r.number for r in finished(stage) if r.key in set(stage.kept)]
        why = f"reduce keeps the best {stage.reduce}" if stage.reduce else "every completed variant goes on"
        parts.append(
            f"<p>{why}: trial(s) {', '.join(map(str, numbers)) or 'none'} went on to later stages "
            f"(marked green below).</p>"
        )
    for key, heading, build in _CHARTS:
        if key != "curves" and not stage.params:
            if key == "parallel":
                parts.append(
                    f'<p class="skipped" data-chart="{key}">The stage searched no parameter: no parallel '
                    "coordinates, slices or importances.</p>"
                )
            continue
        fig = build(report, stage)
        parts.append(f"<h3>{heading}</h3>")
        if isinstance(fig, Skipped):
            parts.append(f'<p class="skipped" data-chart="{key}">{html.escape(fig)}</p>')
        else:
            div = f"{stage.name}-{key}"
            parts.append(f'<div class="chart" data-chart="{key}">{_figure(fig, div)}</div>')
    parts.append("<h3>Best trials</h3>" + _best_table(report, stage))
    if stage.deps:
        parts.append("<h3>Lineage</h3>" + _lineage(report, stage))
    failed = [r for r in stage.records if r.status == "failed"]
    if failed:
        items = "".join(f"<li>trial {r.number}: {html.escape(r.error or '')}</li>" for r in failed[:20])
        more = f"<p class='muted'>and {len(failed) - 20} more</p>" if len(failed) > 20 else ""
        parts.append(f"<h3>Failed trials</h3><ul class='failed'>{items}</ul>{more}")
    parts.append("</section>")
    return "\n".join(parts)


def render(report: Report, *, plotly_js: str) -> str:
    """The page; ``plotly_js`` is the script tag that loads Plotly.js."""
    title = html.escape(report.title)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{_CSS}</style>{plotly_js}{_CHECK_PLOTLY}</head><body><h1>{title}</h1>",
        f'<p id="no-plotly">The charts need {PLOTLY_JS} beside this page: run <code>torchon report RUN_DIR</code> '
        "to write it again.</p>",
    ]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in report.notes]
    total = sum(len(s.records) for s in report.stages.values())
    parts.append(
        f'<p>{total} trial(s) in {len(report.stages)} stage(s); every trial in <a href="results.csv">results.csv</a>.'
        " Hover a chart for values; click a legend entry to hide a trial, double-click to show it alone.</p>"
    )
    if report.kind == "Experiment":
        fig = dag(report)
        if not isinstance(fig, Skipped):
            parts.append(
                f'<h2>Stages</h2><div class="chart" data-chart="dag">{_figure(fig, "stages-dag")}</div>'
            )
        links = "".join(
            f'<li><a href="#stage-{html.escape(n)}">{html.escape(n)}</a></li>' for n in report.stages
        )
        parts.append(f"<ul>{links}</ul>")
    parts += [_stage(report, s) for s in report.stages.values()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _plotly_js(folder: Path, embed: bool) -> str:
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    if embed:
        return f"<script>{source}</script>"
    target = folder / PLOTLY_JS
    data = source.encode("utf-8")
    if not target.is_file() or target.stat().st_size != len(data):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return f'<script src="{PLOTLY_JS}" charset="utf-8"></script>'


def write_page(path: Path, report: Report, *, embed: bool = False) -> None:
    """Write ``report``'s page to ``path`` (atomically), Plotly.js beside it or (``embed``) inside it."""
    text = render(report, plotly_js=_plotly_js(path.parent, embed))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(path: Path, driver: Any, *, title: str) -> None:
    """Write the report of everything ``driver`` ran to ``path``, and ``report.json`` beside it."""
    try:
        report = from_driver(driver, title=title, root=path.parent)
        save_meta(report)
        write_page(path, report)
    except Exception as exc:  # the run's results stand without their page; `torchon report` draws it later
        logger.warning("could not write %s: %s: %s", path, type(exc).__name__, exc, exc_info=True)


def write_run_report(run_dir: Path, *, embed: bool = False) -> Path:
    """Write ``report.html`` of the run in ``run_dir`` again, from its files; raises
    :class:`~torchon_search.report_data.NotARun` when it holds no search or experiment."""
    report = load_run(run_dir)
    path = run_dir / "report.html"
    write_page(path, report, embed=embed)
    return path
