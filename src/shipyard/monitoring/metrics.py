"""Prometheus metrics for the serving path, on a registry of their own (never the global one).

With several worker processes, ``prometheus_client``'s multiprocess mode is used: each
worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by the server
before the workers start) and ``/metrics`` aggregates them, so any worker answers for all.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from shipyard.serving.events import BatchRecord, InferenceFailure, InferenceRecord, RolloutRecord, ShadowRecord

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000)
REQUEST_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
QUEUE_BUCKETS = (0.0001, 0.00025, *LATENCY_BUCKETS)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class ServingMetrics:
    """Counters and histograms by model, version and protocol; models loaded."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, int, str], tuple[Any, Any, Any, Any]] = {}
        self._deployment_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._batch_children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self._http_children: dict[tuple[str, int], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version", "protocol")
        self.requests = Counter(
            "shipyard_inference_requests", "Inference requests answered", labels, registry=self.registry
        )
        self.errors = Counter(
            "shipyard_inference_errors", "Inference requests that failed", (*labels, "code"), registry=self.registry
        )
        self.latency = Histogram(
            "shipyard_inference_latency_seconds",
            "Time from decoded request to model outputs",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.compute = Histogram(
            "shipyard_model_compute_seconds",
            "Time spent inside the model's predict, per model call (one call may serve a batch of requests)",
            ("model", "version"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Histogram(
            "shipyard_inference_rows",
            "Rows per request",
            ("model", "version"),
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "shipyard_batch_rows",
            "Rows per model call (requests merged by the batcher)",
            ("model", "version"),
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "shipyard_batch_requests",
            "Requests per model call",
            ("model", "version"),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "shipyard_queue_wait_seconds",
            "Time a validated request waited for its model call",
            ("model", "version"),
            buckets=QUEUE_BUCKETS,
            registry=self.registry,
        )
        self.models_loaded = Gauge(
            "shipyard_models_loaded",
            "Model versions loaded and serving (1) or not (0)",
            ("model", "version"),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.deployment_requests = Counter(
            "shipyard_deployment_requests",
            "Requests a deployment answered, by the variant and model version that answered",
            ("deployment", "variant", "version"),
            registry=self.registry,
        )
        self.deployment_errors = Counter(
            "shipyard_deployment_errors",
            "Requests to a deployment that failed on the server side (5xx), by variant",
            ("deployment", "variant", "code"),
            registry=self.registry,
        )
        self.deployment_latency = Histogram(
            "shipyard_deployment_latency_seconds",
            "Time from decoded request to outputs, per deployment variant",
            ("deployment", "variant"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shadow_requests = Counter(
            "shipyard_shadow_requests",
            "Copies of deployment requests computed off the request path (shadows, mirrored canaries)",
            ("deployment", "variant", "kind", "result"),
            registry=self.registry,
        )
        self.shadow_latency = Histogram(
            "shipyard_shadow_latency_seconds",
            "Time of a shadow (or mirror) model call",
            ("deployment", "variant", "kind"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rollout_events = Counter(
            "shipyard_rollout_events",
            "Progressive-delivery moves: step, promote, rollback",
            ("deployment", "action"),
            registry=self.registry,
        )
        self.http_requests = Counter(
            "shipyard_http_requests",
            "HTTP requests by route group and status class",
            ("route", "status"),
            registry=self.registry,
        )
        # -- prediction log health (monitoring/predlog/writer.py) --
        self.log_records = Counter(
            "shipyard_predlog_records",
            "Prediction-log records by outcome: written (durable in a segment), spilled, replayed "
            "(from spill into segments), dropped, sampled_out, failed (sync mode: the request failed)",
            ("outcome",),
            registry=self.registry,
        )
        self.log_queue_bytes = Gauge(
            "shipyard_predlog_queue_bytes",
            "Bytes of records held in memory waiting to be written (capped by log_memory_bytes)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.log_queue_peak_bytes = Gauge(
            "shipyard_predlog_queue_peak_bytes",
            "The most bytes of records held in memory at once since the server started",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.log_lag_seconds = Gauge(
            "shipyard_predlog_lag_seconds",
            "Age of the oldest record not yet durable (0 when the queue is empty)",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.log_fsync_seconds = Histogram(
            "shipyard_predlog_fsync_seconds",
            "Time of one group commit (write and fsync of a segment)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    # InferenceObserver
    def on_inference(self, record: InferenceRecord) -> None:
        key = (record.model, record.version, record.protocol)
        children = self._children.get(key)
        if children is None:
            # labels() hashes and validates its arguments on every call: look each
            # (model, version, protocol) up once.
            version = str(record.version)
            children = (
                self.requests.labels(record.model, version, record.protocol),
                self.latency.labels(record.model, version, record.protocol),
                self.queue_wait.labels(record.model, version),
                self.rows.labels(record.model, version),
            )
            self._children[key] = children
        requests, latency, queue_wait, rows = children
        requests.inc()
        latency.observe(record.duration_seconds)
        queue_wait.observe(record.queue_seconds)
        rows.observe(record.rows)
        if record.deployment is not None and record.variant is not None:
            self._on_deployment(record)

    def _on_deployment(self, record: InferenceRecord) -> None:
        assert record.deployment is not None and record.variant is not None
        key = (record.deployment, record.variant, record.version)
        children = self._deployment_children.get(key)
        if children is None:
            children = (
                self.deployment_requests.labels(record.deployment, record.variant, str(record.version)),
                self.deployment_latency.labels(record.deployment, record.variant),
            )
            self._deployment_children[key] = children
        children[0].inc()
        children[1].observe(record.duration_seconds)

    def on_failure(self, failure: InferenceFailure) -> None:
        version = str(failure.version) if failure.version is not None else ""
        self.errors.labels(failure.model, version, failure.protocol, failure.code).inc()
        if failure.deployment is not None and failure.variant is not None and failure.status >= 500:
            self.deployment_errors.labels(failure.deployment, failure.variant, failure.code).inc()

    # ShadowObserver
    def on_shadow(self, record: ShadowRecord) -> None:
        self.shadow_requests.labels(record.deployment, record.variant, record.kind, record.result).inc()
        if record.result != "dropped":
            self.shadow_latency.labels(record.deployment, record.variant, record.kind).observe(record.seconds)

    # RolloutObserver
    def on_rollout(self, record: RolloutRecord) -> None:
        self.rollout_events.labels(record.deployment, record.action).inc()

    # BatchObserver (through the model manager): one record per model call
    def on_batch(self, record: BatchRecord) -> None:
        key = (record.model, record.version)
        children = self._batch_children.get(key)
        if children is None:
            version = str(record.version)
            children = (
                self.compute.labels(record.model, version),
                self.batch_rows.labels(record.model, version),
                self.batch_requests.labels(record.model, version),
            )
            self._batch_children[key] = children
        compute, rows, requests = children
        compute.observe(record.compute_seconds)
        rows.observe(record.rows)
        requests.observe(record.requests)

    # ModelStateObserver
    def on_model_state(self, model: str, version: int | None, state: str) -> None:
        if version is None:
            return
        self.models_loaded.labels(model, str(version)).set(1 if state == "ready" else 0)

    def observe_http(self, route: str, status: int) -> None:
        key = (route, status)
        child = self._http_children.get(key)
        if child is None:
            child = self._http_children[key] = self.http_requests.labels(route, f"{status // 100}xx")
        child.inc()

    def render(self) -> bytes:
        """The exposition text for ``/metrics``, aggregated across workers when there are several."""
        if multiprocess_enabled():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
