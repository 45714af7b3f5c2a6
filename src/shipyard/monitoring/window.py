"""The figures of one window of logged traffic for a target (a model or a deployment).

``compute_window(frame, target=..., since=..., until=..., references=...)`` takes the log as
read back (one row per prediction row: the request's fields, ``in.<column>`` and
``out.<name>``, and the feedback joined to it) and gives a ``WindowFigures``:

- traffic by version and variant: requests, rows, error rate, latency percentiles;
- per version: drift against the version's registered reference, data quality, and the
  reference-against-current distributions per feature;
- per version and variant: performance once labels arrived, else its estimate; outcomes and
  cost; fairness by a sensitive attribute given with feedback;
- a time series of the same figures per bucket (5 minutes, an hour or a day);
- ``figures()``: the flat ``{(target, "drift.share"): value}`` the alerts and gauges read.

A figure that cannot be computed (no labels yet, no reference registered, too few rows) is
absent, with the reason in ``notes``; nothing is ever filled in.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shipyard.errors import InvalidRequest
from shipyard.monitoring import window_sections as sections
from shipyard.monitoring.distributions import compare_distributions
from shipyard.monitoring.traffic import (
    Traffic,
    bucket_index,
    bucket_seconds,
    bucket_starts,
    requests_of,
    traffic,
    traffic_groups,
)

logger = logging.getLogger(__name__)

INPUT_PREFIX = "in."
OUTPUT_PREFIX = "out."
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
MAX_WINDOW_SECONDS = 366 * 86400.0


def parse_window(text: str) -> float:
    """``"7d"`` → seconds; units s, m, h, d, w; at most a year."""
    match = _DURATION.match(text or "")
    if match is None:
        raise InvalidRequest(f"window {text!r} is not a duration like 15m, 24h, 7d or 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 or seconds > MAX_WINDOW_SECONDS:
        raise InvalidRequest(f"window {text!r} must be more than 0 and at most 366d")
    return seconds


@dataclass(frozen=True)
class Reference:
    """What a version was registered with: its training-data profile, its evaluation
    metrics (for concept drift), and H3's reference summary when one was registered."""

    model: str
    version: int
    profile: Mapping[str, Any] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    summary: Any = None
    signature: Any = None


@dataclass
class VersionFigures:
    """The figures of one version's rows in the window."""

    model: str
    version: int
    rows: int
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)
    drift: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    concept: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "distributions": self.distributions,
            "drift": self.drift,
            "quality": self.quality,
            "fairness": self.fairness,
            "concept": self.concept,
        }


@dataclass
class GroupFigures:
    """Performance, its estimate, outcomes and cost of one (version, variant)."""

    version: int | None
    variant: str | None
    labelled: int
    performance: dict[str, Any] | None = None
    estimate: dict[str, Any] | None = None
    outcomes: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "variant": self.variant,
            "labelled": self.labelled,
            "performance": self.performance,
            "estimate": self.estimate,
            "outcomes": self.outcomes,
            "cost": self.cost,
        }


@dataclass
class WindowFigures:
    target: str
    since: float
    until: float
    total: Traffic
    traffic: list[Traffic]
    versions: list[VersionFigures]
    groups: list[GroupFigures]
    series: list[dict[str, Any]]
    bucket_seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> VersionFigures | None:
        """The version that answered most rows in the window (the one alerts watch)."""
        return max(self.versions, key=lambda v: (v.rows, v.version), default=None)

    def figures(self) -> dict[tuple[str, str], float]:
        """The flat figures for alerts and gauges: ``{(target, name): value}``.

        Names: ``traffic.requests``, ``traffic.error_rate``, ``latency.p95_ms`` (...), and for the primary
        version ``drift.share``, ``drift.<column>.score``, ``quality.<figure>``,
        ``performance.<metric>``, ``estimate.<metric>``, ``outcome.<name>.<stat>``,
        ``cost.<figure>``, ``fairness.<figure>``; NaN and missing figures are left out."""
        flat: dict[str, float] = {
            "traffic.requests": float(self.total.requests),
            "traffic.rows": float(self.total.rows),
            "traffic.errors": float(self.total.errors),
        }
        if self.total.error_rate is not None:
            flat["traffic.error_rate"] = self.total.error_rate
        for name, value in self.total.latency_ms.items():
            if value is not None:
                flat[f"latency.{name}_ms"] = value
        primary = self.primary
        if primary is not None:
            flat.update(sections.flat_drift(primary.drift))
            flat.update(sections.flat_quality(primary.quality))
            fairness = sections.flat_numbers("fairness", primary.fairness)
            flat.update({k: v for k, v in fairness.items() if k != "fairness.pos_label"})
            flat.update(sections.flat_concept(primary.concept))
            group = self._group_of(primary.version)
            if group is not None:
                flat.update(sections.flat_performance("performance", group.performance))
                flat.update(sections.flat_performance("estimate", group.estimate))
                flat.update(sections.flat_outcomes(group.outcomes))
                flat.update(sections.flat_numbers("cost", group.cost))
        return {(self.target, name): value for name, value in flat.items() if math.isfinite(value)}

    def _group_of(self, version: int) -> GroupFigures | None:
        """The version's figures over all its variants (the group with variant None), or
        its busiest variant's."""
        mine = [g for g in self.groups if g.version == version]
        whole = [g for g in mine if g.variant is None]
        found = whole or mine
        return found[0] if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "since": self.since,
            "until": self.until,
            "bucket_seconds": self.bucket_seconds,
            "total": self.total.to_dict(),
            "traffic": [t.to_dict() for t in self.traffic],
            "versions": [v.to_dict() for v in self.versions],
            "groups": [g.to_dict() for g in self.groups],
            "series": self.series,
            "figures": {name: value for (_, name), value in sorted(self.figures().items())},
            "notes": list(self.notes),
        }


def inputs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The logged inputs, ``in.<column>`` renamed to ``<column>``."""
    names = [c for c in frame.columns if isinstance(c, str) and c.startswith(INPUT_PREFIX)]
    return frame[names].rename(columns=lambda c: c[len(INPUT_PREFIX) :])


def outputs_of(frame: pd.DataFrame) -> pd.DataFrame:
    names = [c for c in frame.columns if isinstance(c, str) and c.startswith(OUTPUT_PREFIX)]
    return frame[names].rename(columns=lambda c: c[len(OUTPUT_PREFIX) :])


def answered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of requests that were answered (status < 400)."""
    if frame.empty or "status" not in frame.columns:
        return frame
    return frame[(pd.to_numeric(frame["status"], errors="coerce") < 400).to_numpy()]


def _versions(frame: pd.DataFrame) -> list[tuple[str, int]]:
    if frame.empty or "version" not in frame.columns:
        return []
    keys = frame[["model", "version"]].dropna().drop_duplicates()
    return sorted((str(m), int(v)) for m, v in zip(keys["model"], keys["version"], strict=True))


def _of_version(frame: pd.DataFrame, model: str, version: int) -> pd.DataFrame:
    mask = (frame["model"].astype(str) == model) & (pd.to_numeric(frame["version"], errors="coerce") == version)
    return frame[mask.to_numpy()]


def _variants(frame: pd.DataFrame) -> list[str]:
    if "variant" not in frame.columns:
        return []
    return sorted({str(v) for v in frame["variant"].dropna()})


def compute_window(
    frame: pd.DataFrame,
    *,
    target: str,
    since: float,
    until: float,
    references: Mapping[tuple[str, int], Reference] | None = None,
    price_per_core_hour: float = 0.0,
    cpu_seconds: Mapping[tuple[int | None, str | None], float] | None = None,
    sensitive: str | None = None,
    series: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> WindowFigures:
    """The figures of ``frame`` (the log of ``target`` between ``since`` and ``until``).

    ``cpu_seconds``: the CPU the server metered per (version, variant) in the window, for
    the cost figures (the log itself records latency, not CPU).

    ``progress(what, done, total)`` is called as the steps (traffic, each version, each
    time bucket) complete."""
    report = progress or (lambda *_: None)
    references = references or {}
    notes: list[str] = []
    if not frame.empty and "time" in frame.columns:
        times = pd.to_numeric(frame["time"], errors="coerce")
        frame = frame[((times >= since) & (times < until)).to_numpy()]
    requests = requests_of(frame)
    width = bucket_seconds(since, until)
    keys = _versions(answered(frame))
    steps = 1 + len(keys) + (len(bucket_starts(since, until, width)) if series and not frame.empty else 0)
    report("traffic", 0, steps)
    total = traffic(requests)
    groups_traffic = traffic_groups(requests)
    ok = answered(frame)
    versions: list[VersionFigures] = []
    groups: list[GroupFigures] = []
    for done, (model, version) in enumerate(keys, start=1):
        report(f"{model} v{version}", done, steps)
        rows = _of_version(ok, model, version)
        reference = references.get((model, version))
        figures = VersionFigures(model=model, version=version, rows=len(rows))
        inputs = inputs_of(rows)
        if reference is None or reference.profile is None:
            notes.append(f"{model} v{version}: no reference profile registered; no drift or quality figures")
        else:
            figures.distributions = compare_distributions(reference.profile, inputs)
            figures.quality = sections.quality(reference, inputs, notes)
            figures.drift = sections.drift(reference, inputs, notes)
        figures.fairness = sections.fairness(rows, sensitive, notes)
        versions.append(figures)
        whole, measured = _group(rows, version, None, price=price_per_core_hour, cpu_seconds=cpu_seconds, notes=notes)
        groups.append(whole)
        for variant in _variants(rows):
            part = rows[(rows["variant"].astype(str) == variant).to_numpy()]
            groups.append(
                _group(part, version, variant, price=price_per_core_hour, cpu_seconds=cpu_seconds, notes=notes)[0]
            )
        if reference is not None:
            figures.concept = sections.concept(reference, measured)
    points: list[dict[str, Any]] = []
    if series and not frame.empty:
        points = _series(
            frame,
            (since, until, width),
            references=references,
            tick=lambda i: report("over time", 1 + len(keys) + i, steps),
        )
    report("done", steps, steps)
    return WindowFigures(
        target=target,
        since=since,
        until=until,
        total=total,
        traffic=groups_traffic,
        versions=versions,
        groups=groups,
        series=points,
        bucket_seconds=width,
        notes=list(dict.fromkeys(notes)),
    )


def _group(
    rows: pd.DataFrame,
    version: int | None,
    variant: str | None,
    *,
    price: float,
    cpu_seconds: Mapping[tuple[int | None, str | None], float] | None,
    notes: list[str],
) -> tuple[GroupFigures, Any]:
    """The group's figures, and its performance object (for concept drift)."""
    labelled = sections.labelled_rows(rows)
    group = GroupFigures(version=version, variant=variant, labelled=len(labelled))
    group.performance, measured = sections.performance(labelled, notes)
    group.estimate = sections.estimate(rows, notes)
    group.outcomes = sections.outcomes(rows, notes)
    cpu = cpu_seconds.get((version, variant)) if cpu_seconds is not None else None
    group.cost = sections.cost(len(rows), cpu, price, group.outcomes, notes)
    return group, measured


def _series(
    frame: pd.DataFrame,
    span: tuple[float, float, float],
    *,
    references: Mapping[tuple[str, int], Reference],
    tick: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Per bucket: traffic, and for the window's primary version drift share, quality,
    performance and outcome means (the figures the over-time plots draw)."""
    since, until, width = span
    starts = bucket_starts(since, until, width)
    index = bucket_index(frame["time"], starts[0], width)
    ok = answered(frame)
    by_version = ok.groupby(["model", "version"]).size() if not ok.empty and "version" in ok.columns else None
    primary: tuple[str, int] | None = None
    if by_version is not None and len(by_version):
        model, version = by_version.idxmax()
        primary = (str(model), int(version))
    reference = references.get(primary) if primary is not None else None
    points: list[dict[str, Any]] = []
    for i, start in enumerate(starts):
        part = frame[(index == i)]
        reqs = requests_of(part)
        t = traffic(reqs)
        point: dict[str, Any] = {
            "start": start,
            "requests": t.requests,
            "rows": t.rows,
            "error_rate": t.error_rate,
            "latency_p50_ms": t.latency_ms["p50"],
            "latency_p95_ms": t.latency_ms["p95"],
        }
        mine = answered(part)
        if primary is not None and not mine.empty:
            mine = _of_version(mine, *primary)
        if primary is not None and not mine.empty:
            scratch: list[str] = []
            if reference is not None and reference.profile is not None:
                inputs = inputs_of(mine)
                point.update(sections.flat_drift(sections.drift(reference, inputs, scratch)))
                point.update(sections.flat_quality(sections.quality(reference, inputs, scratch)))
            measured, _ = sections.performance(sections.labelled_rows(mine), scratch)
            point.update(sections.flat_performance("performance", measured))
            point.update(sections.flat_performance("estimate", sections.estimate(mine, scratch)))
            point.update(sections.flat_outcomes(sections.outcomes(mine, scratch)))

        points.append({k: _plain(v) for k, v in point.items()})
        tick(i)
    return points


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def table_to_frame(table: Any) -> pd.DataFrame:
    """A pyarrow Table (or anything pandas takes) as a DataFrame."""
    if hasattr(table, "to_pandas"):
        frame: pd.DataFrame = table.to_pandas()
        return frame
    return pd.DataFrame(table)


def references_for(registry: Any, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Reference]:
    """The registered reference of each (model, version) in ``keys`` that the registry
    (a ``RegistryService``) has: profile, metrics, signature and drift summary."""
    found: dict[tuple[str, int], Reference] = {}
    for model, version in keys:
        try:
            mv = registry.store.get_version(model, version)
        except Exception as exc:  # a version deleted since it answered: no reference
            logger.debug("no reference for %s/%s: %s", model, version, exc)
            continue
        found[(model, version)] = Reference(
            model=model,
            version=version,
            profile=mv.lineage.profile,
            metrics=dict(mv.lineage.metrics),
            summary=sections.registered_summary(registry, mv),
            signature=mv.signature,
        )
    return found


# Per-column figures (``drift.<column>.score``, ``quality.<column>.missing_rate``...) shown as
# one row per column, in this order, with these headings.
COLUMN_FIGURES = {
    "drift.score": "drift score",
    "drift.detected": "drift",
    "quality.missing_rate": "missing",
    "quality.out_of_range_share": "out of range",
    "quality.unseen_share": "unseen",
    "quality.type_violations": "type errors",
    "quality.null_violations": "null errors",
}


def figures_by_column(flat: dict[str, float]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """({column: {"drift.score": v, ...}}, the figures that are not per column)."""
    per_column: dict[str, dict[str, float]] = {}
    headline: dict[str, float] = {}
    for name, value in flat.items():
        family, _, rest = name.partition(".")
        column, _, figure = rest.rpartition(".")
        key = f"{family}.{figure}"
        if column and key in COLUMN_FIGURES:
            per_column.setdefault(column, {})[key] = value
        else:
            headline[name] = value
    return per_column, headline
