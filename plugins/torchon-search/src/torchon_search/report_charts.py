"""The report's charts, as Plotly figures written as plain data (``{"data": [...], "layout": {...}}``).

Plain dicts rather than ``plotly.graph_objects``: a 500-trial search draws thousands of points, and building and
validating graph objects for them costs more than the page is allowed (:mod:`torchon_search.report` writes them with
``plotly.io``, Plotly.js draws them in the browser). Each function returns None, or a reason, when its chart would
say nothing: a chart of one point per trial is a bar chart, not a line chart; parallel coordinates, slices and
importances need trials to compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torchon_search.records import TrialRecord, rank
from torchon_search.report_data import Param, Report, Stage

__all__ = [
    "MIN_IMPORTANCE_TRIALS",
    "Skipped",
    "curves",
    "dag",
    "finished",
    "importances",
    "label",
    "parallel",
    "slices",
]

PALETTE = [
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
MIN_IMPORTANCE_TRIALS = 4
"""Finished trials needed before the parameters' importances mean anything."""

_FONT = {"family": "system-ui, sans-serif", "size": 12}


class Skipped(str):
    """Why a chart is left out (said in the page in its place)."""


def _round(value: float) -> float:
    return float(f"{value:.6g}") if math.isfinite(value) else value


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 14}},
        "font": _FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "height": 380,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        **extra,
    }


def label(record: TrialRecord, report: Report, stage: Stage) -> str:
    """``trial 7``, and for a downstream trial which upstream trials it was built from: ``trial 7 ← train 3``."""
    text = f"trial {record.number}"
    sources = []
    for dep, key in record.inputs.items():
        upstream = report.find(dep, key)
        sources.append(f"{dep} {upstream.number if upstream is not None else key[:8]}")
    return f"{text} ← {', '.join(sources)}" if sources else text


def finished(stage: Stage) -> list[TrialRecord]:
    """Completed trials with a finite value, best first."""
    return [r for r in rank(stage.records, stage.mode) if r.value is not None and math.isfinite(r.value)]


def _points(record: TrialRecord, metric: str) -> list[tuple[int, float]]:
    out = []
    for entry in record.history:
        value = entry.get("metrics", {}).get(metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            out.append((int(entry["step"]), _round(float(value))))
    return out


def curves(report: Report, stage: Stage) -> dict[str, Any] | Skipped:
    """The metric over steps, one line per trial (legend: the trial ids; pruned trials dashed and crossed out,
    failed ones dotted); a bar per trial when no trial reported more than one step."""
    metric = stage.metric
    series = [(r, pts) for r in stage.records if (pts := _points(r, metric))]
    if not series:
        return Skipped(f"No trial reported {metric}.")
    best = {r.key for r in finished(stage)[:1]}
    if max(len(pts) for _, pts in series) <= 1:
        data = []
        for r, pts in series:
            name = label(r, report, stage)
            status = "" if r.status == "completed" else f" ({r.status})"
            data.append(
                {
                    "type": "bar",
                    "name": name + status,
                    "x": [name],
                    "y": [pts[-1][1]],
                    "marker": {
                        "color": PALETTE[r.number % len(PALETTE)],
                        "opacity": 1.0 if r.status == "completed" else 0.45,
                        "line": {"width": 2 if r.key in best else 0, "color": "#222"},
                    },
                    "hovertemplate": f"{name}{status}<br>{metric} %{{y:.5g}}<extra></extra>",
                }
            )
        values = [pts[-1][1] for _, pts in series]
        lo, hi = min(values), max(values)
        span = (hi - lo) or abs(hi) or 1.0
        layout = _layout(
            f"{metric} per trial (one step each)",
            xaxis={"title": {"text": "trial"}, "type": "category"},
            yaxis={"title": {"text": metric}, "range": [lo - 0.6 * span, hi + 0.3 * span]},
            barmode="group",
            showlegend=True,
            legend={"title": {"text": "trial"}},
        )
        return {"data": data, "layout": layout}
    data = []
    for r, pts in series:
        name = label(r, report, stage)
        style = {"pruned": "dash", "failed": "dot"}.get(r.status, "solid")
        suffix = "" if r.status == "completed" else f" ({r.status})"
        marker: dict[str, Any] = {"size": 4}
        if r.status in ("pruned", "failed"):
            marker = {
                "size": [4] * (len(pts) - 1) + [11],
                "symbol": ["circle"] * (len(pts) - 1) + ["x-thin-open" if r.status == "pruned" else "x"],
                "line": {"width": 2, "color": PALETTE[r.number % len(PALETTE)]},
            }
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name + suffix,
            "x": [p[0] for p in pts],
            "y": [p[1] for p in pts],
            "line": {
                "color": PALETTE[r.number % len(PALETTE)],
                "dash": style,
                "width": 3.5 if r.key in best else 1.6,
            },
            "marker": marker,
            "opacity": 1.0 if r.status == "completed" else 0.75,
            "hovertemplate": f"{name}{suffix}<br>step %{{x}}<br>{metric} %{{y:.5g}}<extra></extra>",
        }
        data.append(trace)
    layout = _layout(
        f"{metric} over steps",
        xaxis={"title": {"text": "step"}, **({"dtick": 1} if max(len(p) for _, p in series) <= 20 else {})},
        yaxis={"title": {"text": metric}},
        showlegend=True,
        legend={"title": {"text": "trial (thick: best; dashed ✕: pruned; dotted: failed)"}},
        hovermode="closest",
    )
    return {"data": data, "layout": layout}


def _axis_values(param: Param, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """A parcoords dimension of ``param``: log10 values with real-valued ticks for log-scale parameters, codes with
    the options as ticks for choices."""
    raw = [r.params[param.name] for r in records]
    if param.kind == "categorical":
        choices = list(dict.fromkeys(_text(c) for c in param.choices))
        for value in raw:
            if _text(value) not in choices:
                choices.append(_text(value))
        codes = [choices.index(_text(v)) for v in raw]
        return {
            "label": param.name,
            "values": codes,
            "tickvals": list(range(len(choices))),
            "ticktext": [c[:24] for c in choices],
            "range": [-0.2, max(len(choices) - 1, 0) + 0.2],
        }
    values = [float(v) for v in raw]
    lo = min([*values, *([param.low] if param.low is not None else [])])
    hi = max([*values, *([param.high] if param.high is not None else [])])
    if param.kind == "log" and lo > 0:
        llo, lhi = math.log10(lo), math.log10(hi)
        ticks = sorted({llo, lhi, *range(math.ceil(llo), math.floor(lhi) + 1)})
        return {
            "label": f"{param.name} (log)",
            "values": [round(math.log10(v), 5) for v in values],
            "tickvals": ticks,
            "ticktext": [f"{10**t:.3g}" for t in ticks],
            "range": [llo, lhi],
        }
    return {"label": param.name, "values": [_round(v) for v in values], "range": [lo, hi]}


def _text(value: Any) -> str:
    """How a value of a choice is shown (an empty string as ``""``, so that its axis tick reads)."""
    text = value if isinstance(value, str) else str(value)
    return text or '""'


def _numeric(param: Param, records: Sequence[TrialRecord]) -> bool:
    return param.kind != "categorical" and all(
        isinstance(r.params[param.name], (int, float)) and not isinstance(r.params[param.name], bool)
        for r in records
    )


def _usable(stage: Stage, done: Sequence[TrialRecord]) -> tuple[list[Param], list[str]]:
    """The parameters every finished trial has (conditional ones may be missing), and those left out."""
    params, left = [], []
    for p in stage.params:
        if all(p.name in r.params for r in done) and (p.kind == "categorical" or _numeric(p, done)):
            params.append(p)
        elif any(p.name in r.params for r in done):
            left.append(p.name)
    return params, left


def parallel(report: Report, stage: Stage) -> dict[str, Any] | Skipped:
    """Parallel coordinates: the trial id, each parameter and the metric, one line per finished trial."""
    done = finished(stage)
    if len(done) < 2:
        return Skipped(f"{len(done)} trial(s) finished: nothing to compare.")
    params, left = _usable(stage, done)
    if not params:
        return Skipped("No searched parameter is set in every finished trial.")
    values = [r.value for r in done if r.value is not None]
    trial_axis: dict[str, Any] = {"label": "trial", "values": [r.number for r in done]}
    if len(done) <= 12:
        trial_axis["tickvals"] = sorted(r.number for r in done)
    dims = [trial_axis]
    dims += [_axis_values(p, done) for p in params]
    dims.append({"label": stage.metric, "values": [_round(v) for v in values]})
    line = {
        "color": [_round(v) for v in values],
        "colorscale": "Viridis",
        "reversescale": stage.mode == "min",  # the best trials bright either way
        "showscale": True,
        "colorbar": {"title": {"text": stage.metric}},
    }
    title = "Parallel coordinates (drag along an axis to filter)"
    if left:
        title += f"; left out, not set in every trial: {', '.join(left)}"
    layout = _layout(title, margin={"l": 60, "r": 60, "t": 90, "b": 30})
    return {"data": [{"type": "parcoords", "dimensions": dims, "line": line}], "layout": layout}


def slices(report: Report, stage: Stage) -> dict[str, Any] | Skipped:
    """Each parameter against the metric (Optuna's slice plot): log x for log-scale parameters, categories for
    choices, coloured by trial number."""
    done = finished(stage)
    if len(done) < 2:
        return Skipped(f"{len(done)} trial(s) finished: nothing to compare.")
    params = [p for p in stage.params if any(p.name in r.params for r in done)]
    if not params:
        return Skipped("The stage searched no parameter.")
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    gap_x, gap_y = 0.06, 0.35 / rows
    width, height = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
    data: list[dict[str, Any]] = []
    layout = _layout(
        f"{stage.metric} against each parameter",
        height=max(320, 290 * rows),
        showlegend=False,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    numbers = [r.number for r in done]
    for i, p in enumerate(params):
        row, col = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0 = col * (width + gap_x)
        y1 = 1 - row * (height + gap_y)
        have = [r for r in done if p.name in r.params]
        xs: list[Any] = [r.params[p.name] for r in have]
        axis: dict[str, Any] = {
            "domain": [x0, x0 + width],
            "anchor": f"y{suffix}",
            "title": {"text": p.name + (" (log)" if p.kind == "log" else "")},
        }
        if p.kind == "log":
            axis["type"] = "log"
        elif p.kind == "categorical" or not _numeric(p, have):
            axis["type"] = "category"
            order = list(dict.fromkeys(_text(c) for c in p.choices if _text(c) in {_text(x) for x in xs}))
            axis["categoryorder"], axis["categoryarray"] = "array", order
            xs = [_text(x) for x in xs]
        layout[f"xaxis{suffix}"] = axis
        layout[f"yaxis{suffix}"] = {
            "domain": [y1 - height, y1],
            "anchor": f"x{suffix}",
            "title": {"text": stage.metric} if col == 0 else None,
        }
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "x": xs,
                "y": [_round(r.value) for r in have if r.value is not None],
                "text": [f"trial {r.number}" for r in have],
                "marker": {
                    "size": 8,
                    "color": [r.number for r in have],
                    "colorscale": "Blues",
                    "cmin": min(numbers),
                    "cmax": max(numbers) if max(numbers) > min(numbers) else min(numbers) + 1,
                    "line": {"width": 0.5, "color": "#333"},
                    "showscale": i == 0,
                    "colorbar": {"title": {"text": "trial"}, "len": 0.5} if i == 0 else None,
                },
                "name": p.name,
                "hovertemplate": f"%{{text}}<br>{p.name} %{{x}}<br>{stage.metric} %{{y:.5g}}<extra></extra>",
            }
        )
    return {"data": data, "layout": layout}


def importances(report: Report, stage: Stage) -> dict[str, Any] | Skipped:
    """The parameters' importances for the metric (``optuna.importance.get_param_importances``, Optuna's default
    evaluator), over the finished trials."""
    done = finished(stage)
    if not stage.params:
        return Skipped("The stage searched no parameter.")
    if len(done) < MIN_IMPORTANCE_TRIALS:
        return Skipped(
            f"Parameter importances need at least {MIN_IMPORTANCE_TRIALS} finished trials; "
            f"{len(done)} finished."
        )
    params, _ = _usable(stage, done)
    varied = [p for p in params if len({_text(r.params[p.name]) for r in done}) > 1]
    if not varied:
        return Skipped("Parameter importances need parameters that took different values in finished trials.")
    try:
        scores = _importances(stage, varied, done)
    except (
        Exception
    ) as exc:  # Optuna refuses some spaces (e.g. one finite choice left): say so, draw the rest
        return Skipped(f"Optuna could not compute parameter importances: {type(exc).__name__}: {exc}")
    names = sorted(scores, key=lambda n: scores[n])
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": [round(float(scores[n]), 4) for n in names],
            "y": names,
            "marker": {"color": "#1f77b4"},
            "hovertemplate": "%{y}: %{x:.3f}<extra></extra>",
            "name": "importance",
        }
    ]
    layout = _layout(
        f"Parameter importances for {stage.metric} ({len(done)} finished trials)",
        height=max(220, 60 + 34 * len(names)),
        xaxis={"title": {"text": "importance (sums to 1)"}, "range": [0, 1]},
        yaxis={"automargin": True},
        margin={"l": 120, "r": 20, "t": 40, "b": 50},
    )
    return {"data": data, "layout": layout}


def _importances(stage: Stage, params: Sequence[Param], done: Sequence[TrialRecord]) -> dict[str, float]:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, BaseDistribution] = {}
    for p in params:
        if p.kind == "categorical":
            choices = list(dict.fromkeys([*map(_text, p.choices), *(_text(r.params[p.name]) for r in done)]))
            dists[p.name] = CategoricalDistribution(choices)
            continue
        values = [float(r.params[p.name]) for r in done]
        lo = min([*values, *([p.low] if p.low is not None else [])])
        hi = max([*values, *([p.high] if p.high is not None else [])])
        if p.kind == "int":
            dists[p.name] = IntDistribution(int(lo), int(hi))
        else:
            dists[p.name] = FloatDistribution(lo, hi, log=p.kind == "log" and lo > 0)
    study = optuna.create_study(direction="minimize" if stage.mode == "min" else "maximize")
    trials = []
    for r in done:
        values_of: dict[str, Any] = {}
        for p in params:
            shown = r.params[p.name]
            if p.kind == "categorical":
                values_of[p.name] = _text(shown)
            elif p.kind == "int":
                values_of[p.name] = int(shown)
            else:
                # the exact value chosen (params are rounded for display)
                exact = r.assignment.get(p.name, shown)
                values_of[p.name] = float(exact if isinstance(exact, (int, float)) else shown)
        trials.append(optuna.trial.create_trial(params=values_of, distributions=dists, value=r.value))
    study.add_trials(trials)
    return dict(optuna.importance.get_param_importances(study))


def dag(report: Report) -> dict[str, Any] | Skipped:
    """An experiment's stages and the links between them, with what ``reduce`` let through each link."""
    stages = report.stages
    if len(stages) < 2:
        return Skipped("One stage.")
    depth: dict[str, int] = {}
    for name in stages:  # stages are in dependency order
        depth[name] = 1 + max((depth.get(d, 0) for d in stages[name].deps), default=-1)
    columns: dict[int, list[str]] = {}
    for name, d in depth.items():
        columns.setdefault(d, []).append(name)
    pos = {n: (d, -i + (len(col) - 1) / 2) for d, col in columns.items() for i, n in enumerate(col)}
    texts, hovers = [], []
    for name, stage in stages.items():
        counts: dict[str, int] = {}
        for r in stage.records:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        texts.append(f"<b>{name}</b><br>{len(stage.records)} trials")
        hovers.append(f"{name}: {summary or 'no trial'}<br>metric {stage.metric} ({stage.mode})")
    annotations = []
    for name, stage in stages.items():
        for dep in stage.deps:
            if dep not in pos:
                continue
            (x0, y0), (x1, y1) = pos[dep], pos[name]
            annotations.append(
                {
                    "x": x1 - 0.12,
                    "y": y1,
                    "ax": x0 + 0.12,
                    "ay": y0,
                    "xref": "x",
                    "yref": "y",
                    "axref": "x",
                    "ayref": "y",
                    "showarrow": True,
                    "arrowhead": 3,
                    "arrowsize": 1.4,
                    "arrowwidth": 1.6,
                    "arrowcolor": "#555",
                    "text": "",
                }
            )
            up = stages[dep]
            done = len(finished(up))
            if up.kept is not None:
                what = f"{len(up.kept)} of {done} go on" + (
                    f" (reduce: best {up.reduce})" if up.reduce else ""
                )
            else:
                what = f"{done} finished"
            annotations.append(
                {
                    "x": (x0 + x1) / 2,
                    "y": (y0 + y1) / 2 + 0.12,
                    "xref": "x",
                    "yref": "y",
                    "text": what,
                    "showarrow": False,
                    "font": {"size": 11, "color": "#444"},
                }
            )
    width = max(depth.values())
    height = max(len(c) for c in columns.values())
    data = [
        {
            "type": "scatter",
            "mode": "markers+text",
            "x": [pos[n][0] for n in stages],
            "y": [pos[n][1] for n in stages],
            "text": texts,
            "hovertext": hovers,
            "hoverinfo": "text",
            "textposition": "middle center",
            "marker": {
                "size": 70,
                "symbol": "square",
                "color": "#e8f0fa",
                "line": {"width": 1.5, "color": "#1f77b4"},
            },
            "name": "stages",
        }
    ]
    axis = {"visible": False, "zeroline": False, "showgrid": False}
    layout = _layout(
        "Stages (arrows: links; labels: variants that went on)",
        height=120 + 90 * height,
        showlegend=False,
        annotations=annotations,
        xaxis={**axis, "range": [-0.4, width + 0.4]},
        yaxis={**axis, "range": [-(height / 2) - 0.1, height / 2 + 0.1]},
        margin={"l": 20, "r": 20, "t": 40, "b": 10},
    )
    return {"data": data, "layout": layout}
