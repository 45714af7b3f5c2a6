"""The report's plots, as plotly data and layout built from a window's figures.

Every user-provided string that reaches a plot (column, category, variant, group names) goes
through ``label`` first: plotly reads a subset of HTML in its texts, so ``<`` and ``&`` are
escaped and show as themselves. A plot is only made when it has data to draw.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shipyard.monitoring.report.page import Plot
from shipyard.monitoring.window import VersionFigures, WindowFigures

REFERENCE_COLOR = "#7a869a"
CURRENT_COLOR = "#0d6efd"
MAX_FEATURE_PLOTS = 40
QUALITY_RATES = ("missing_rate", "out_of_range_share", "unseen_share")
FAIRNESS_RATES = ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate")
MAX_LABEL = 40


def label(value: object) -> str:
    """``value`` as plotly text: shortened to ``MAX_LABEL`` characters, ``<`` and ``&`` escaped."""
    text = str(value)
    if len(text) > MAX_LABEL:
        text = text[: MAX_LABEL - 1] + "…"
    return html.escape(text, quote=False)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def _layout(title: str, *, x: str = "", y: str = "", **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "y": 0.98, "yanchor": "top"},
        "margin": {"l": 70, "r": 70, "t": 80, "b": 150},
        "xaxis": {"title": {"text": x}, "tickangle": -40},
        "yaxis": {"title": {"text": y}},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "font": {"size": 10}},
        "height": 440,
    }
    layout.update(extra)
    return layout


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _series_lines(window: WindowFigures, names: Sequence[str]) -> list[dict[str, Any]]:
    """One line per figure name in ``names`` that has at least one value in the series."""
    times = [_iso(p["start"]) for p in window.series]
    lines = []
    for name in names:
        values = [_finite(p.get(name)) for p in window.series]
        if any(v is not None for v in values):
            lines.append({"type": "scatter", "mode": "lines+markers", "name": label(name), "x": times, "y": values})
    return lines


def _series_names(window: WindowFigures, prefix: str) -> list[str]:
    names: dict[str, None] = {}
    for point in window.series:
        for key in point:
            if key.startswith(prefix):
                names[key] = None
    return sorted(names)


def _metric_names(window: WindowFigures, prefix: str) -> list[str]:
    return [n for n in _series_names(window, prefix) if not n.endswith((".std_error", ".rows"))]


def traffic_plots(window: WindowFigures) -> list[Plot]:
    plots = []
    lines = _series_lines(window, ["requests"])
    errors = _series_lines(window, ["error_rate"])
    for line in errors:
        line["yaxis"] = "y2"
    if lines:
        layout = _layout("Requests and error rate over time", x="time (UTC)", y="requests")
        layout["yaxis2"] = {"title": {"text": "error rate"}, "overlaying": "y", "side": "right", "rangemode": "tozero"}
        plots.append(Plot("plot-traffic", "Requests and error rate per time bucket", lines + errors, layout))
    latency = _series_lines(window, ["latency_p50_ms", "latency_p95_ms"])
    if latency:
        plots.append(
            Plot(
                "plot-latency",
                "Latency percentiles (p50, p95) in milliseconds per time bucket",
                latency,
                _layout("Latency over time", x="time (UTC)", y="ms"),
            )
        )
    return plots


def distribution_plots(version: VersionFigures) -> list[Plot]:
    """Reference against current shares, one plot per feature."""
    plots = []
    for i, (column, dist) in enumerate(sorted(version.distributions.items())[:MAX_FEATURE_PLOTS]):
        bins = [label(b) for b in dist["bins"]]
        data = [
            {
                "type": "bar",
                "name": "reference",
                "x": bins,
                "y": dist["reference"],
                "marker": {"color": REFERENCE_COLOR},
            },
            {"type": "bar", "name": "current", "x": bins, "y": dist["current"], "marker": {"color": CURRENT_COLOR}},
        ]
        score = _column_drift(version, column)
        title = f"{label(column)}" + (f" — {label(score)}" if score else "")
        plots.append(
            Plot(
                f"plot-dist-{version.version}-{i}",
                f"Distribution of feature {column} in the reference and in the window (share of rows per bin)",
                data,
                _layout(
                    title, x="bin" if dist["kind"] == "numeric" else "category", y="share of rows", barmode="group"
                ),
            )
        )
    return plots


def _drift_columns(version: VersionFigures) -> dict[str, Mapping[str, Any]]:
    columns = (version.drift or {}).get("columns", {})
    if isinstance(columns, Mapping):
        return {str(k): v for k, v in columns.items() if isinstance(v, Mapping)}
    return {str(c.get("column")): c for c in columns if isinstance(c, Mapping)}


def _column_drift(version: VersionFigures, column: str) -> str:
    found = _drift_columns(version).get(column)
    if not found:
        return ""
    test = found.get("stattest", found.get("test", ""))
    score = _finite(found.get("score", found.get("statistic")))
    verdict = "drift" if found.get("drift_detected") else "no drift"
    return f"{test} {score:.3g}, {verdict}" if score is not None else verdict


def drift_plots(window: WindowFigures, version: VersionFigures | None) -> list[Plot]:
    plots = []
    share = _series_lines(window, ["drift.share"])
    if share:
        plots.append(
            Plot(
                "plot-drift-share",
                "Share of drifted columns per time bucket",
                share,
                _layout("Drift share over time", x="time (UTC)", y="share of columns drifted", yaxis={"range": [0, 1]}),
            )
        )
    columns = [n for n in _series_names(window, "drift.") if n.endswith(".score")]
    per_column = _series_lines(window, columns)
    if per_column:
        plots.append(
            Plot(
                "plot-drift-columns",
                "Drift score of each column per time bucket",
                per_column,
                _layout("Drift score per column over time", x="time (UTC)", y="score"),
            )
        )
    if version is not None:
        found = _drift_columns(version)
        scored = [(c, _finite(v.get("score", v.get("statistic")))) for c, v in found.items()]
        scored = [(c, s) for c, s in scored if s is not None]
        if scored:
            colors = ["#b42318" if found[c].get("drift_detected") else CURRENT_COLOR for c, _ in scored]
            columns = [label(c) for c, _ in scored]
            thresholds = [_finite(found[c].get("threshold")) for c, _ in scored]
            tests = [label(found[c].get("stattest", "")) for c, _ in scored]
            plots.append(
                Plot(
                    f"plot-drift-v{version.version}",
                    f"Drift score per column of version {version.version} over the whole window, with each "
                    "test's threshold; red bars drifted (p-value tests drift below it, distances at or above it)",
                    [
                        {
                            "type": "bar",
                            "name": "score",
                            "x": columns,
                            "y": [s for _, s in scored],
                            "text": tests,
                            "marker": {"color": colors},
                        },
                        {
                            "type": "scatter",
                            "mode": "markers",
                            "name": "threshold",
                            "x": columns,
                            "y": thresholds,
                            "marker": {"symbol": "line-ew-open", "size": 28, "color": "#1b1f24"},
                        },
                    ],
                    _layout(
                        f"Drift per column, version {version.version}", x="column", y="score", **_score_axis(scored)
                    ),
                )
            )
    return plots


def _score_axis(scored: Sequence[tuple[str, float | None]]) -> dict[str, Any]:
    """A log y-axis when the scores span many orders of magnitude (p-values of 1e-30 beside
    0.2 would be invisible bars on a linear one); linear otherwise, or when a score is 0."""
    values = [s for _, s in scored if s is not None]
    if values and min(values) > 0 and max(values) / min(values) > 1e3:
        return {"yaxis": {"title": {"text": "score (log scale)"}, "type": "log"}}
    return {}


def performance_plots(window: WindowFigures) -> list[Plot]:
    plots = []
    live = _series_lines(window, _metric_names(window, "performance."))
    estimated = _series_lines(window, _metric_names(window, "estimate."))
    for line in estimated:
        line["line"] = {"dash": "dot"}
    if live or estimated:
        plots.append(
            Plot(
                "plot-performance",
                "Performance per time bucket: measured on labelled rows (solid) and estimated (dotted)",
                live + estimated,
                _layout(
                    "Performance over time",
                    x="time (UTC)",
                    y="metric",
                    legend={"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 10}},
                    margin={"l": 70, "r": 190, "t": 80, "b": 150},
                ),
            )
        )
    outcomes = _series_lines(window, [n for n in _series_names(window, "outcome.") if n.endswith(".mean")])
    if outcomes:
        plots.append(
            Plot(
                "plot-outcomes",
                "Mean of each business outcome per time bucket",
                outcomes,
                _layout("Outcomes over time", x="time (UTC)", y="mean per prediction"),
            )
        )
    return plots


def fairness_groups(fairness: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    for key in ("by_group", "groups", "per_group"):
        found = fairness.get(key)
        if isinstance(found, Mapping):
            return {str(k): v for k, v in found.items() if isinstance(v, Mapping)}
        if isinstance(found, list):
            return {str(g.get("group")): g for g in found if isinstance(g, Mapping)}
    return {}


def fairness_plots(version: VersionFigures) -> list[Plot]:
    if not version.fairness:
        return []
    groups = fairness_groups(version.fairness)
    if not groups:
        return []
    metrics = [m for m in FAIRNESS_RATES if any(_finite(g.get(m)) is not None for g in groups.values())]
    data = [
        {
            "type": "bar",
            "name": label(metric),
            "x": [label(g) for g in groups],
            "y": [_finite(groups[g].get(metric)) for g in groups],
        }
        for metric in metrics
    ]
    attribute = version.fairness.get("attribute", "group")
    return [
        Plot(
            f"plot-fairness-v{version.version}",
            f"Selection rate, accuracy and error rates per group of {attribute}, version {version.version}",
            data,
            _layout(
                f"Fairness by {label(attribute)}, version {version.version}",
                x=label(attribute),
                y="rate",
                barmode="group",
            ),
        )
    ]


def quality_columns(quality: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    columns = (quality or {}).get("columns", {})
    if isinstance(columns, Mapping):
        return {str(k): v for k, v in columns.items() if isinstance(v, Mapping)}
    return {str(c.get("column")): c for c in columns if isinstance(c, Mapping)}


def quality_plots(version: VersionFigures) -> list[Plot]:
    columns = quality_columns(version.quality)
    if not columns:
        return []
    rates = [r for r in QUALITY_RATES if any(_finite(c.get(r)) is not None for c in columns.values())]
    data = [
        {
            "type": "bar",
            "name": label(rate),
            "x": [label(c) for c in columns],
            "y": [_finite(columns[c].get(rate)) for c in columns],
        }
        for rate in rates
    ]
    if not data:
        return []
    return [
        Plot(
            f"plot-quality-v{version.version}",
            f"Data quality per column of version {version.version}: missing, out-of-range and unseen rates",
            data,
            _layout(f"Data quality, version {version.version}", x="column", y="share of rows", barmode="group"),
        )
    ]
