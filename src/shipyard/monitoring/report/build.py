"""A window's figures as the sections of an HTML report: summary tables and plots."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shipyard.monitoring.report import plots
from shipyard.monitoring.report.page import Markup, Plot, Section, esc, page, table
from shipyard.monitoring.window import COLUMN_FIGURES, GroupFigures, VersionFigures, WindowFigures, figures_by_column


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _plots(found: list[Plot], empty: str) -> str:
    if not found:
        return f'<p class="note">{esc(empty)}</p>'
    return '<div class="grid">' + "".join(p.html() for p in found) + "</div>"


def _variant(value: str | None) -> str:
    return value if value is not None else "(all)"


def summary_section(window: WindowFigures) -> Section:
    rows = [
        (
            f"v{t.version}" if t.version is not None else "(failed before a version answered)",
            t.variant or "—",
            t.requests,
            t.rows,
            t.errors,
            t.error_rate,
            t.latency_ms.get("p50"),
            t.latency_ms.get("p95"),
            t.latency_ms.get("p99"),
        )
        for t in [*window.traffic]
    ]
    total = window.total
    rows.append(
        (
            "all",
            "",
            total.requests,
            total.rows,
            total.errors,
            total.error_rate,
            total.latency_ms.get("p50"),
            total.latency_ms.get("p95"),
            total.latency_ms.get("p99"),
        )
    )
    head = ["version", "variant", "requests", "rows", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms"]
    body = table("Traffic by version and variant", head, rows)
    per_column, headline = figures_by_column({name: value for (_, name), value in window.figures().items()})
    body += table("Monitored figures (what alerts and gauges read)", ["figure", "value"], sorted(headline.items()))
    if per_column:
        keys = [k for k in COLUMN_FIGURES if any(k in c for c in per_column.values())]
        body += table(
            "Monitored figures by input column (drift.COLUMN.score, quality.COLUMN.missing_rate, ...)",
            ["column", *(COLUMN_FIGURES[k] for k in keys)],
            [(column, *(c.get(k) for k in keys)) for column, c in per_column.items()],
        )
    return Section("summary", "Summary", body)


def traffic_section(window: WindowFigures) -> Section:
    return Section("traffic", "Traffic", _plots(plots.traffic_plots(window), "No requests in this window."))


def _drift_table(version: VersionFigures) -> str:
    columns = plots._drift_columns(version)
    if not columns:
        return ""
    rows = []
    for name, found in columns.items():
        drifted = bool(found.get("drift_detected"))
        rows.append(
            (
                name,
                str(found.get("stattest", found.get("test", ""))),
                found.get("score", found.get("statistic")),
                found.get("p_value"),
                found.get("threshold"),
                Markup('<span class="drift">drift</span>' if drifted else "no drift"),
            )
        )
    drift = version.drift or {}
    share = drift.get("share_of_drifted_columns")
    verdict = drift.get("dataset_drift")
    shown = f"{share:.2f}" if isinstance(share, int | float) else "—"
    caption = f"Drift per column, version {version.version} (share drifted {shown}"
    caption += f", dataset drift: {'yes' if verdict else 'no'})"
    return table(caption, ["column", "test", "score", "p-value", "threshold", "verdict"], rows)


def drift_section(window: WindowFigures) -> Section:
    parts = [_plots(plots.drift_plots(window, window.primary), "No drift figures in this window.")]
    for version in window.versions:
        parts.append(_drift_table(version))
    return Section("drift", "Drift", "".join(parts))


def distributions_section(window: WindowFigures) -> Section:
    parts = []
    for version in window.versions:
        parts.append(f"<h3>{esc(version.model)} version {esc(version.version)}</h3>")
        parts.append(_plots(plots.distribution_plots(version), "No reference profile to compare with."))
    return Section(
        "distributions",
        "Reference and current distributions",
        "".join(parts) or '<p class="note">No rows answered.</p>',
    )


def _metrics_of(section: Mapping[str, Any] | None) -> dict[str, str]:
    """``{metric: "value ± std_error"}`` of a performance or estimate section, or the
    top-level numbers of another (cost)."""
    if not section:
        return {}
    metrics = section.get("metrics")
    if isinstance(metrics, Mapping):
        shown: dict[str, str] = {}
        for name, figure in metrics.items():
            if not isinstance(figure, Mapping):
                continue
            value, error = figure.get("value"), figure.get("std_error")
            if isinstance(value, int | float):
                shown[name] = f"{value:.4g}" + (f" ± {error:.2g}" if isinstance(error, int | float) else "")
            else:
                shown[name] = "undefined"
        return shown
    return {k: f"{v:.4g}" for k, v in section.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _metrics_rows(groups: list[GroupFigures], key: str) -> tuple[list[str], list[tuple[object, ...]]]:
    names: dict[str, None] = {}
    for group in groups:
        for name in _metrics_of(getattr(group, key)):
            names[name] = None
    rows: list[tuple[object, ...]] = []
    for g in groups:
        section = getattr(g, key)
        if section:
            shown = _metrics_of(section)
            count = section.get("rows", section.get("predictions"))
            rows.append((f"v{g.version}", _variant(g.variant), count, *(shown.get(n) for n in names)))
    return list(names), rows


def performance_section(window: WindowFigures) -> Section:
    parts = [_plots(plots.performance_plots(window), "No labels, estimates or outcomes in this window yet.")]
    for key, caption in (
        ("performance", "Measured on labelled rows (± standard error)"),
        ("estimate", "Estimated for the rows without labels (± standard error)"),
    ):
        names, rows = _metrics_rows(window.groups, key)
        if rows:
            parts.append(table(caption, ["version", "variant", "rows", *names], rows))
    outcome_rows = []
    for group in window.groups:
        for name, stats in (group.outcomes or {}).items():
            if isinstance(stats, Mapping):
                outcome_rows.append(
                    (
                        f"v{group.version}",
                        _variant(group.variant),
                        name,
                        stats.get("count"),
                        stats.get("sum"),
                        stats.get("mean"),
                        stats.get("rate"),
                    )
                )
    if outcome_rows:
        parts.append(
            table("Business outcomes", ["version", "variant", "outcome", "count", "sum", "mean", "rate"], outcome_rows)
        )
    names, rows = _metrics_rows(window.groups, "cost")
    if rows:
        parts.append(table("Cost", ["version", "variant", "predictions", *names], rows))
    return Section("performance", "Performance, outcomes and cost", "".join(parts))


def _flat_rows(section: Mapping[str, Any]) -> list[tuple[object, ...]]:
    return [(k, v) for k, v in section.items() if isinstance(v, int | float | str) and not isinstance(v, bool)]


def fairness_section(window: WindowFigures) -> Section:
    parts = []
    for version in window.versions:
        if version.fairness:
            parts.append(_plots(plots.fairness_plots(version), ""))
            groups = plots.fairness_groups(version.fairness)
            names = ["count", *plots.FAIRNESS_RATES]
            attribute = str(version.fairness.get("attribute", "group"))
            rows = [(g, *(found.get(n) for n in names)) for g, found in groups.items()]
            parts.append(table(f"Per group of {attribute}, version {version.version}", [attribute, *names], rows))
            parts.append(
                table(
                    f"Fairness across groups, version {version.version}",
                    ["figure", "value"],
                    _flat_rows(version.fairness),
                )
            )
    return Section(
        "fairness",
        "Fairness",
        "".join(parts) or '<p class="note">No sensitive attribute came with feedback in this window.</p>',
    )


def quality_section(window: WindowFigures) -> Section:
    parts = []
    for version in window.versions:
        columns = plots.quality_columns(version.quality)
        if not columns:
            continue
        parts.append(_plots(plots.quality_plots(version), ""))
        names = sorted(
            {
                m
                for c in columns.values()
                for m, v in c.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
        )
        rows = [(c, *(found.get(n) for n in names)) for c, found in columns.items()]
        parts.append(table(f"Data quality per column, version {version.version}", ["column", *names], rows))
    return Section(
        "quality", "Data quality", "".join(parts) or '<p class="note">No data quality figures in this window.</p>'
    )


def notes_section(window: WindowFigures) -> Section:
    if not window.notes:
        return Section("notes", "Notes", '<p class="note">Every figure could be computed.</p>')
    items = "".join(f"<li>{esc(n)}</li>" for n in window.notes)
    return Section("notes", "Notes", f"<ul>{items}</ul>")


def render_report(window: WindowFigures, *, generated: float | None = None) -> str:
    """The self-contained HTML report of ``window``."""
    when = generated if generated is not None else datetime.now(UTC).timestamp()
    title = f"Monitoring report: {window.target}"
    width = {300.0: "5-minute", 3600.0: "hourly", 86400.0: "daily"}.get(window.bucket_seconds, "")
    subtitle = f"{_when(window.since)} to {_when(window.until)}, {width} buckets over time"
    sections = [
        summary_section(window),
        traffic_section(window),
        drift_section(window),
        distributions_section(window),
        performance_section(window),
        fairness_section(window),
        quality_section(window),
        notes_section(window),
    ]
    return page(
        title, subtitle, sections, f"Generated by Shipyard at {_when(when)}. This file makes no network requests."
    )
