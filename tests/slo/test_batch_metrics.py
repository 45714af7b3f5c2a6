"""The SLO tuner's choices as Prometheus gauges: set from tuned batch records, untouched by
records of versions without an SLO, removed when the version retires."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from shipyard.monitoring.batch_metrics import BatchMetrics
from shipyard.serving.events import BatchRecord
from shipyard.serving.slo import TunedBatchRecord, Tuning

NAMES = (
    "shipyard_batch_slo_seconds",
    "shipyard_batch_wait_seconds",
    "shipyard_batch_target_rows",
    "shipyard_batch_latency_p99_seconds",
    "shipyard_batch_saturated",
)


def record(model: str, version: int, tuning: Tuning | None) -> BatchRecord:
    fields = {"model": model, "version": version, "rows": 3, "requests": 2, "queue_seconds": 0.001}
    if tuning is None:
        return BatchRecord(**fields, compute_seconds=0.002)
    return TunedBatchRecord(**fields, compute_seconds=0.002, tuning=tuning)


def values(registry: CollectorRegistry, model: str, version: str) -> dict[str, float | None]:
    labels = {"model": model, "version": version}
    return {name: registry.get_sample_value(name, labels) for name in NAMES}


@pytest.fixture
def metrics() -> tuple[CollectorRegistry, BatchMetrics]:
    registry = CollectorRegistry()
    return registry, BatchMetrics(registry)


def test_a_tuned_record_sets_the_gauges(metrics: tuple[CollectorRegistry, BatchMetrics]) -> None:
    registry, observer = metrics
    observer.on_batch(record("forest", 2, Tuning(0.05, 0.003, 120, 0.021, False)))
    assert values(registry, "forest", "2") == {
        "shipyard_batch_slo_seconds": 0.05,
        "shipyard_batch_wait_seconds": 0.003,
        "shipyard_batch_target_rows": 120,
        "shipyard_batch_latency_p99_seconds": 0.021,
        "shipyard_batch_saturated": 0,
    }
    observer.on_batch(record("forest", 2, Tuning(0.05, 0.0, 1024, 0.09, True)))
    assert values(registry, "forest", "2")["shipyard_batch_saturated"] == 1
    assert values(registry, "forest", "2")["shipyard_batch_target_rows"] == 1024


def test_no_p99_before_requests_were_measured(metrics: tuple[CollectorRegistry, BatchMetrics]) -> None:
    registry, observer = metrics
    observer.on_batch(record("forest", 1, Tuning(0.05, 0.0, 256, None, False)))
    assert values(registry, "forest", "1")["shipyard_batch_latency_p99_seconds"] is None
    assert values(registry, "forest", "1")["shipyard_batch_target_rows"] == 256


def test_versions_without_an_slo_have_no_gauges(metrics: tuple[CollectorRegistry, BatchMetrics]) -> None:
    registry, observer = metrics
    observer.on_batch(record("lr", 1, None))
    observer.on_batch(TunedBatchRecord(**vars(record("lr", 1, None))))  # tuned type, no tuning
    assert set(values(registry, "lr", "1").values()) == {None}


def test_a_retired_version_takes_its_gauges_along(metrics: tuple[CollectorRegistry, BatchMetrics]) -> None:
    registry, observer = metrics
    observer.on_batch(record("forest", 1, Tuning(0.05, 0.001, 64, 0.01, False)))
    observer.on_batch(record("forest", 2, Tuning(0.05, 0.002, 32, None, False)))
    observer.on_model_state("forest", 2, "ready")
    observer.on_model_state("forest", None, "retired")
    observer.on_model_state("forest", 1, "retired")
    assert set(values(registry, "forest", "1").values()) == {None}
    assert values(registry, "forest", "2")["shipyard_batch_target_rows"] == 32
    observer.on_model_state("forest", 2, "retired")  # p99 was never set: nothing to remove there
    observer.on_model_state("forest", 2, "retired")  # twice: nothing left
    assert set(values(registry, "forest", "2").values()) == {None}
