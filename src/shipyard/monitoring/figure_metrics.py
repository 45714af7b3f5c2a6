"""Prometheus gauges of the monitored figures: drift, data quality, performance (measured
and estimated), fairness, and the monitor's own health.

They are set by the server's monitor task (``monitoring/monitor.py``) from each target's
window, on the serving metrics' registry, so ``/metrics`` shows them next to the request
counters. With several workers (multiprocess mode) the gauges use the ``mostrecent`` mode:
whichever worker computed the figures last answers for all.

Label sets of a target that no longer has a figure (a version that stopped answering) are
removed at the next update in single-process mode; in multiprocess mode prometheus_client
cannot remove them, and they keep their last value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

from shipyard.monitoring import window_sections as sections
from shipyard.monitoring.window import WindowFigures

MODE: Literal["mostrecent"] = "mostrecent"


class FigureMetrics:
    """``FigureMetrics(registry).update(window)`` after each computation."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.drift_share = Gauge(
            "shipyard_drift_share",
            "Share of columns drifted against the version's reference, over the monitor window",
            ("target", "version"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.drift_detected = Gauge(
            "shipyard_drift_detected",
            "Dataset drift detected (1) or not (0)",
            ("target", "version"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.drift_score = Gauge(
            "shipyard_drift_score",
            "Drift score of one column (the statistic, or p-value, of its test)",
            ("target", "version", "column"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.quality = Gauge(
            "shipyard_data_quality",
            "Data quality figures (missing, out-of-range, unseen-category and type-violation rates)",
            ("target", "version", "figure"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.performance = Gauge(
            "shipyard_performance",
            "Live performance on labelled rows (accuracy, f1, roc_auc, mae, ...)",
            ("target", "version", "variant", "metric"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.estimate = Gauge(
            "shipyard_performance_estimate",
            "Performance estimated from confidence while labels are missing",
            ("target", "version", "variant", "metric"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.fairness = Gauge(
            "shipyard_fairness",
            "Fairness across groups of a sensitive attribute (demographic parity, equalized odds)",
            ("target", "version", "figure"),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.last_run = Gauge(
            "shipyard_monitor_last_run_timestamp_seconds",
            "Unix time the monitor last computed a target's figures",
            ("target",),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.run_seconds = Gauge(
            "shipyard_monitor_run_seconds",
            "How long the monitor's last computation of a target's figures took",
            ("target",),
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.failures = Counter(
            "shipyard_monitor_failures", "Monitor computations that failed", ("target",), registry=registry
        )
        self._set: dict[str, set[tuple[Gauge, tuple[str, ...]]]] = {}

    def update(self, window: WindowFigures, *, seconds: float, at: float) -> None:
        """Set every gauge of ``window.target`` from ``window``; drop the target's others."""
        target = window.target
        now: set[tuple[Gauge, tuple[str, ...]]] = set()

        def put(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
            if value is None:
                return
            gauge.labels(*labels).set(value)
            now.add((gauge, labels))

        for version in window.versions:
            v = str(version.version)
            drift = sections.flat_drift(version.drift)
            put(self.drift_share, (target, v), drift.pop("drift.share", None))
            put(self.drift_detected, (target, v), drift.pop("drift.detected", None))
            for name, value in drift.items():
                if name.endswith(".score"):
                    put(self.drift_score, (target, v, name.removeprefix("drift.").removesuffix(".score")), value)
            for name, value in _quality(version.quality):
                put(self.quality, (target, v, name), value)
            for name, value in sections.flat_numbers("fairness", version.fairness).items():
                put(self.fairness, (target, v, name.removeprefix("fairness.")), value)
        for group in window.groups:
            number, variant = str(group.version), group.variant or ""
            for gauge, section in ((self.performance, group.performance), (self.estimate, group.estimate)):
                for name, value in sections.flat_performance("m", section).items():
                    metric = name.removeprefix("m.")
                    if not metric.endswith(".std_error") and metric != "rows":
                        put(gauge, (target, number, variant, metric), value)
        for gauge, labels in self._set.get(target, set()) - now:
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
        self._set[target] = now
        self.last_run.labels(target).set(at)
        self.run_seconds.labels(target).set(seconds)

    def failed(self, target: str) -> None:
        self.failures.labels(target).inc()


def _quality(section: Any) -> Iterable[tuple[str, float]]:
    """``<figure>`` and ``<column>.<figure>`` numbers of a data-quality section."""
    for name, value in sections.flat_quality(section).items():
        yield name.removeprefix("quality."), value
