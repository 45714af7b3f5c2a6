"""The Prometheus gauges set from a window: values equal the window's figures, and the label
sets of a version that stopped answering are removed."""

from __future__ import annotations

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry
from report_frames import HOUR, NOW, labelled, log_frame, reference

from shipyard.monitoring.figure_metrics import FigureMetrics
from shipyard.monitoring.window import Reference, compute_window


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_gauges_follow_the_window() -> None:
    registry = CollectorRegistry()
    metrics = FigureMetrics(registry)
    two = pd.concat(
        [
            labelled(log_frame(60, version=1, variant="stable", seed=1), share=1.0, seed=1),
            labelled(log_frame(30, version=2, variant="canary", seed=2, shift=12.0, prefix="c"), share=1.0, seed=2),
        ],
        ignore_index=True,
    )
    ref1 = reference()
    refs = {("fraud", 1): ref1, ("fraud", 2): Reference("fraud", 2, ref1.profile, summary=ref1.summary)}
    window = compute_window(two, target="fraud", since=NOW - 24 * HOUR, until=NOW, references=refs, series=False)
    metrics.update(window, seconds=0.5, at=NOW)
    v2 = next(v for v in window.versions if v.version == 2)
    assert v2.drift is not None
    assert sample(registry, "shipyard_drift_share", target="fraud", version="2") == v2.drift["share_of_drifted_columns"]
    assert sample(registry, "shipyard_drift_score", target="fraud", version="2", column="age") == pytest.approx(
        v2.drift["columns"]["age"]["score"]
    )
    canary = next(g for g in window.groups if g.variant == "canary")
    assert canary.performance is not None
    assert sample(
        registry, "shipyard_performance", target="fraud", version="2", variant="canary", metric="accuracy"
    ) == pytest.approx(canary.performance["metrics"]["accuracy"]["value"])
    assert sample(registry, "shipyard_performance", target="fraud", version="1", variant="", metric="f1") is not None
    assert sample(registry, "shipyard_data_quality", target="fraud", version="1", figure="age.missing_rate") == 0.0
    assert sample(registry, "shipyard_monitor_last_run_timestamp_seconds", target="fraud") == NOW
    assert sample(registry, "shipyard_monitor_run_seconds", target="fraud") == 0.5

    # Version 2 stops answering: its label sets go, version 1's stay.
    one = two[two["version"] == 1]
    later = compute_window(one, target="fraud", since=NOW - 24 * HOUR, until=NOW, references=refs, series=False)
    metrics.update(later, seconds=0.1, at=NOW + 60)
    assert sample(registry, "shipyard_drift_share", target="fraud", version="2") is None
    assert (
        sample(registry, "shipyard_performance", target="fraud", version="2", variant="canary", metric="accuracy")
        is None
    )
    assert sample(registry, "shipyard_drift_share", target="fraud", version="1") is not None
    # Another target's gauges are its own.
    metrics.failed("other")
    assert sample(registry, "shipyard_monitor_failures_total", target="other") == 1.0
    assert sample(registry, "shipyard_drift_share", target="fraud", version="1") is not None
