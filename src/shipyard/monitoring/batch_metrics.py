"""Prometheus gauges of SLO-aware batching (``serving/slo.py``), per model version:

- ``shipyard_batch_slo_seconds``: the p99 target (``slo_p99_ms``);
- ``shipyard_batch_wait_seconds``: the longest a request may now be held while its call gathers more rows;
- ``shipyard_batch_target_rows``: the rows a model call is now held for (its preferred size);
- ``shipyard_batch_latency_p99_seconds``: the measured p99 of queue + model call over the last
  seconds, as the tuner sees it (decoding and the network come on top);
- ``shipyard_batch_saturated``: 1 while p99 is over the target (nothing is held then).

An observer of the model manager (``events.BatchObserver``): it reads the ``tuning`` of the
batch records of versions that have an SLO and skips the others. With several workers each
runs its own tuner; the gauges then show the largest value among the live workers.
"""

from __future__ import annotations

import contextlib
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge

from shipyard.monitoring.metrics import multiprocess_enabled
from shipyard.serving.events import BatchRecord
from shipyard.serving.slo import TunedBatchRecord, Tuning

MODE: Literal["livemax"] = "livemax"


class BatchMetrics:
    """``BatchMetrics(registry)``: pass it to the model manager's observers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("model", "version")
        self.slo = Gauge(
            "shipyard_batch_slo_seconds",
            "The p99 latency target the batcher tunes for (slo_p99_ms)",
            labels,
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.wait = Gauge(
            "shipyard_batch_wait_seconds",
            "Longest a request may now be held while its call gathers more rows, as the SLO tuner chose it",
            labels,
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.target_rows = Gauge(
            "shipyard_batch_target_rows",
            "Rows a model call is now held for (a call still takes what is waiting), as the SLO tuner chose it",
            labels,
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.p99 = Gauge(
            "shipyard_batch_latency_p99_seconds",
            "Measured p99 of queue wait plus model call over the last seconds (the SLO tuner's view)",
            labels,
            registry=registry,
            multiprocess_mode=MODE,
        )
        self.saturated = Gauge(
            "shipyard_batch_saturated",
            "1 while the measured p99 is over the target (nothing is held: throughput first)",
            labels,
            registry=registry,
            multiprocess_mode=MODE,
        )
        self._shown: dict[tuple[str, int], Tuning] = {}

    # BatchObserver
    def on_batch(self, record: BatchRecord) -> None:
        if not isinstance(record, TunedBatchRecord) or record.tuning is None:
            return
        key = (record.model, record.version)
        tuning = record.tuning
        if self._shown.get(key) is tuning:
            return  # the tuner chose again at most every TUNE_SECONDS: nothing new
        self._shown[key] = tuning
        version = str(record.version)
        self.slo.labels(record.model, version).set(tuning.slo_seconds)
        self.wait.labels(record.model, version).set(tuning.wait_seconds)
        self.target_rows.labels(record.model, version).set(tuning.batch_rows)
        if tuning.p99_seconds is not None:
            self.p99.labels(record.model, version).set(tuning.p99_seconds)
        self.saturated.labels(record.model, version).set(1 if tuning.saturated else 0)

    # ModelStateObserver: a retired version takes its gauges with it.
    def on_model_state(self, model: str, version: int | None, state: str) -> None:
        if version is None or state != "retired" or self._shown.pop((model, version), None) is None:
            return
        gauges = (self.slo, self.wait, self.target_rows, self.p99, self.saturated)
        for gauge in gauges:
            if multiprocess_enabled():
                # prometheus_client cannot remove a series across processes: zero it.
                gauge.labels(model, str(version)).set(0)
                continue
            with contextlib.suppress(KeyError):  # p99 is set only once requests were measured
                gauge.remove(model, str(version))
