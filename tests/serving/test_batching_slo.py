"""With a p99 target the batcher tunes itself and keeps its guarantees: answers are exactly
what lone calls answer, a lone request after a burst is not held, the Python-class model is
never merged, the target is per model, and the tuner's choices reach the metrics."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client import CollectorRegistry
from serving_support import Recorder, assert_unbatched, call

from homes import open_home
from live_server import LiveServer
from shipyard.monitoring.batch_metrics import BatchMetrics
from shipyard.registry.refs import parse_ref
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.events import BatchRecord
from shipyard.serving.manager import ModelManager
from shipyard.serving.slo import TunedBatchRecord

BURST = 150


@asynccontextmanager
async def tuned(
    home: Path, refs: list[str], **settings: Any
) -> AsyncIterator[tuple[DataPlane, Recorder, CollectorRegistry]]:
    """A started manager and data plane, with the batching gauges as a manager observer."""
    svc = open_home(home, **settings)
    recorder, registry = Recorder(), CollectorRegistry()
    manager = ModelManager(svc.registry, observers=[recorder, BatchMetrics(registry)], settings=svc.settings)
    dataplane = DataPlane(manager, max_rows=svc.settings.max_rows, timeout_seconds=30, observers=[recorder])
    try:
        await manager.start([parse_ref(ref) for ref in refs])
        yield dataplane, recorder, registry
    finally:
        await manager.close()
        dataplane.close()
        svc.close()


def of(recorder: Recorder, model: str) -> list[BatchRecord]:
    return [b for b in recorder.batches if b.model == model]


def test_tuned_batches_are_merged_and_split_exactly(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        async with tuned(serving_home, ["clf"], slo_p99_ms=500, max_batch_rows=64) as (dataplane, recorder, registry):
            for burst in range(3):
                results = await asyncio.gather(
                    *(
                        dataplane.infer(call("clf", X[i : i + 1 + i % 3], request_id=f"b{burst}-{i}"))
                        for i in range(BURST)
                    )
                )
                for result in results:
                    assert_unbatched(result)
            batches = of(recorder, "clf")
            assert all(isinstance(b, TunedBatchRecord) and b.tuning is not None for b in batches)
            assert all(b.rows <= 64 for b in batches)
            assert any(b.requests > 1 for b in batches), "no batch of several requests formed"
            assert sum(b.requests for b in batches) == 3 * BURST
            last = batches[-1]
            assert isinstance(last, TunedBatchRecord) and last.tuning is not None
            labels = {"model": "clf", "version": "1"}
            assert registry.get_sample_value("shipyard_batch_slo_seconds", labels) == 0.5
            assert registry.get_sample_value("shipyard_batch_target_rows", labels) == last.tuning.batch_rows
            assert registry.get_sample_value("shipyard_batch_wait_seconds", labels) == last.tuning.wait_seconds
            p99 = registry.get_sample_value("shipyard_batch_latency_p99_seconds", labels)
            assert p99 is not None and p99 > 0

    asyncio.run(run())


def test_with_an_slo_a_lone_request_is_not_held(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    """A generous target and max wait let the tuner wait for company under a burst; a
    request arriving alone after a pause is still dispatched at once. The forest serves
    natively: its calls have a fixed cost worth holding for (compiled, this small forest
    costs ~0.1 ms a call and runs inline, where holding gains nothing)."""
    X, _ = classification_data
    max_wait = 0.25

    async def run() -> None:
        settings = {"slo_p99_ms": 5000, "max_batch_wait_ms": max_wait * 1000, "runtime": "native"}
        async with tuned(serving_home, ["clf"], **settings) as (dataplane, recorder, _):
            first = await dataplane.infer(call("clf", X[:1], request_id="first"))
            assert_unbatched(first)
            # Bursts of several sizes, until the tuner holds calls: calls of one size cannot
            # show it the model's fixed cost, and without one nothing is worth holding for.
            for burst, size in enumerate((100, 3, 40, 8, 100, 20, 2, 60, 5, 100) * 2):
                await asyncio.gather(
                    *(dataplane.infer(call("clf", X[i : i + 1], request_id=f"b{burst}-{i}")) for i in range(size))
                )
                await asyncio.sleep(0.02)  # the tuner chooses again every 0.1 s
                before = of(recorder, "clf")[-1]
                if isinstance(before, TunedBatchRecord) and before.tuning and before.tuning.wait_seconds > 0:
                    break
            assert isinstance(before, TunedBatchRecord) and before.tuning is not None
            assert before.tuning.wait_seconds > 0, "the tuner never chose to wait: the test proves nothing"
            await asyncio.sleep(2 * max_wait)
            lone = await dataplane.infer(call("clf", X[5:6], request_id="lone"))
            assert_unbatched(lone)
            # The dispatcher's own choice, not a clock: it held the lone request for nothing.
            assert dataplane.resolve("clf").batcher.last_wait_seconds == 0
            assert of(recorder, "clf")[-1].requests == 1

    asyncio.run(run())


def test_the_slo_is_per_model_and_the_python_class_model_is_never_merged(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        settings = {"models": {"clf": {"slo_p99_ms": 100}}}
        async with tuned(serving_home, ["clf", "lr", "slow"], **settings) as (dataplane, recorder, registry):
            calls = [call("clf", X[i : i + 1], request_id=f"c{i}") for i in range(60)]
            calls += [call("lr", X[i : i + 2], request_id=f"l{i}") for i in range(60)]
            calls += [call("slow", np.zeros((1, 2)), request_id=f"s{i}") for i in range(20)]
            for result in await asyncio.gather(*(dataplane.infer(c) for c in calls)):
                assert_unbatched(result)
            assert all(isinstance(b, TunedBatchRecord) and b.tuning for b in of(recorder, "clf"))
            lr, slow = of(recorder, "lr"), of(recorder, "slow")
            assert lr and all(isinstance(b, TunedBatchRecord) and b.tuning is None for b in lr)
            assert slow and {b.requests for b in slow} == {1}
            assert all(isinstance(b, TunedBatchRecord) and b.tuning is None for b in slow)
            assert registry.get_sample_value("shipyard_batch_target_rows", {"model": "clf", "version": "1"}) is not None
            assert (
                registry.get_sample_value("shipyard_batch_target_rows", {"model": "lr", "version": str(lr[0].version)})
                is None
            )

    asyncio.run(run())


def test_a_server_with_an_slo_exports_its_choices_and_logs_them_at_debug_level(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def load(url: str, auth: dict[str, str]) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=BURST)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=auth) as client:
            return await asyncio.gather(
                *(client.post("/v2/models/clf/infer", json=v2_body(X[i : i + 1], f"r{i}")) for i in range(BURST))
            )

    settings = {"slo_p99_ms": "250", "log_level": "DEBUG", "access_log": "false"}
    with LiveServer(serving_home, ["clf"], settings=settings) as server:
        responses = asyncio.run(load(server.url, server.auth_headers))
        time.sleep(1.1)  # the tuner logs at most once a second: let one more call log
        asyncio.run(load(server.url, server.auth_headers))
        metrics = httpx.get(server.url + "/metrics", timeout=10, headers=server.auth_headers).text
        log = server.log()
    assert all(r.status_code == 200 for r in responses)
    samples = {
        name: metric_value(metrics, name, model="clf", version="1")
        for name in ("shipyard_batch_slo_seconds", "shipyard_batch_target_rows", "shipyard_batch_latency_p99_seconds")
    }
    assert samples["shipyard_batch_slo_seconds"] == 0.25
    assert 1 <= samples["shipyard_batch_target_rows"] <= 256
    assert samples["shipyard_batch_latency_p99_seconds"] > 0
    assert metric_value(metrics, "shipyard_batch_wait_seconds", model="clf", version="1") >= 0
    assert metric_value(metrics, "shipyard_batch_saturated", model="clf", version="1") in (0, 1)
    lines = [line for line in log.splitlines() if "shipyard.serving.slo" in line]
    assert lines and all("for p99 <= 250.0 ms: hold up to " in line and "rows, measured p99" in line for line in lines)
    # The dispatcher serves every request: its lines do not carry the id of the one that started it.
    assert not any('"request_id"' in line for line in lines)


def v2_body(rows: np.ndarray, request_id: str) -> dict[str, object]:
    inputs = [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}]
    return {"id": request_id, "inputs": inputs}


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no sample {name} {labels} in /metrics")
