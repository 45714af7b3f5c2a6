"""Per model version statistics in the shape of Triton's statistics extension
(``GET /v2/models[/{name}[/versions/{v}]]/stats``), derived from the serving metrics.

They are read from the Prometheus samples rather than kept apart, so that with several
worker processes (multiprocess mode) any worker answers for all of them, exactly as
``/metrics`` does, and the two never disagree. From the metrics of ``monitoring/metrics``:

- ``success``: requests answered (count) and their time from decoded request to outputs;
- ``fail``: requests that failed (count, by ``shipyard_inference_errors``) and their time
  (``shipyard_inference_failure_seconds``, kept by ``InferenceStats`` below);
- ``queue``: the time validated requests waited for their model call;
- ``compute_infer`` and ``execution_count``: model calls and the time inside them (with
  batching one call serves several requests, as Triton counts executions);
- ``inference_count``: rows answered (Triton counts each inference of a batched request);
- ``last_inference``: milliseconds since the epoch (``InferenceStats``), 0 before any.

``compute_input`` and ``compute_output`` (decoding and encoding) are not measured apart:
they are inside ``success`` and reported as zero, and ``batch_stats`` is empty.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Summary
from prometheus_client.multiprocess import MultiProcessCollector

from shipyard.monitoring.metrics import multiprocess_enabled
from shipyard.serving.events import InferenceFailure, InferenceRecord

FAILURE_SECONDS = "shipyard_inference_failure_seconds"
LAST_INFERENCE = "shipyard_last_inference_timestamp_seconds"

# Sample name → (field of ModelStat it adds to, scale): counts stay counts, seconds become ns.
_NS = 1e9
_SAMPLES: dict[str, tuple[str, float]] = {
    "shipyard_inference_requests_total": ("success_count", 1.0),
    "shipyard_inference_latency_seconds_sum": ("success_ns", _NS),
    "shipyard_inference_errors_total": ("fail_count", 1.0),
    f"{FAILURE_SECONDS}_sum": ("fail_ns", _NS),
    "shipyard_queue_wait_seconds_count": ("queue_count", 1.0),
    "shipyard_queue_wait_seconds_sum": ("queue_ns", _NS),
    "shipyard_model_compute_seconds_count": ("execution_count", 1.0),
    "shipyard_model_compute_seconds_sum": ("compute_ns", _NS),
    "shipyard_inference_rows_sum": ("inference_count", 1.0),
}


class InferenceStats:
    """An inference observer keeping what the serving metrics do not: how long failed
    requests took, and when each model version last answered."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.failure_seconds = Summary(
            FAILURE_SECONDS,
            "Time from decoded request to failure, for requests that failed",
            ("model", "version"),
            registry=registry,
        )
        self.last_inference = Gauge(
            LAST_INFERENCE,
            "Unix time of the last request a model version answered",
            ("model", "version"),
            registry=registry,
            multiprocess_mode="max",
        )
        self._last: dict[tuple[str, int], Any] = {}

    def on_inference(self, record: InferenceRecord) -> None:
        key = (record.model, record.version)
        child = self._last.get(key)
        if child is None:
            child = self._last[key] = self.last_inference.labels(record.model, str(record.version))
        child.set(record.started_at + record.duration_seconds)

    def on_failure(self, failure: InferenceFailure) -> None:
        version = str(failure.version) if failure.version is not None else ""
        self.failure_seconds.labels(failure.model, version).observe(failure.duration_seconds)


@dataclass
class ModelStat:
    """One model version's totals since the server started (all workers)."""

    name: str
    version: str
    success_count: float = 0.0
    success_ns: float = 0.0
    fail_count: float = 0.0
    fail_ns: float = 0.0
    queue_count: float = 0.0
    queue_ns: float = 0.0
    execution_count: float = 0.0
    compute_ns: float = 0.0
    inference_count: float = 0.0
    last_seconds: float = 0.0

    def to_triton(self) -> dict[str, Any]:
        """The ``$model_stat`` object of Triton's statistics extension."""
        return {
            "name": self.name,
            "version": self.version,
            "last_inference": int(self.last_seconds * 1000),
            "inference_count": int(self.inference_count),
            "execution_count": int(self.execution_count),
            "inference_stats": {
                "success": _duration(self.success_count, self.success_ns),
                "fail": _duration(self.fail_count, self.fail_ns),
                "queue": _duration(self.queue_count, self.queue_ns),
                "compute_input": _duration(0, 0),
                "compute_infer": _duration(self.execution_count, self.compute_ns),
                "compute_output": _duration(0, 0),
                "cache_hit": _duration(0, 0),
                "cache_miss": _duration(0, 0),
            },
            "batch_stats": [],
        }


def collect(registry: CollectorRegistry) -> dict[tuple[str, str], ModelStat]:
    """Every model version's totals in ``registry``'s samples (the files of every worker
    in multiprocess mode), by ``(model, version)``."""
    source = registry
    if multiprocess_enabled():
        source = CollectorRegistry()
        MultiProcessCollector(source)  # type: ignore[no-untyped-call]
    totals: dict[tuple[str, str], ModelStat] = defaultdict(lambda: ModelStat("", ""))
    for family in source.collect():
        for sample in family.samples:
            model, version = sample.labels.get("model"), sample.labels.get("version")
            if model is None or not version:
                continue
            stat = totals[(model, version)]
            stat.name, stat.version = model, version
            if sample.name == LAST_INFERENCE:
                stat.last_seconds = max(stat.last_seconds, sample.value)
                continue
            target = _SAMPLES.get(sample.name)
            if target is not None:
                name, scale = target
                setattr(stat, name, getattr(stat, name) + sample.value * scale)
    return dict(totals)


def model_stats(
    registry: CollectorRegistry, served: Iterable[tuple[str, int]], *, other_versions: bool = True
) -> list[dict[str, Any]]:
    """Triton's ``model_stats`` list for the ``served`` model versions, each with its
    totals (zeros before its first request); with ``other_versions``, also every other
    version of those models that answered since the server started (an alias moved).
    Sorted by name, then version."""
    totals = collect(registry)
    wanted = {(name, str(version)) for name, version in served}
    if other_versions:
        models = {name for name, _ in wanted}
        wanted.update(key for key in totals if key[0] in models)
    ordered = sorted(wanted, key=lambda key: (key[0], int(key[1]) if key[1].isdigit() else 0))
    return [totals.get(key, ModelStat(*key)).to_triton() for key in ordered]


def _duration(count: float, ns: float) -> dict[str, int]:
    return {"count": int(count), "ns": int(ns)}
