"""What one request does never harms another: a culprit fails alone, versions never mix,
cancelled and timed-out requests leave quietly, a full queue answers 503 at once, the
Python-class model is never merged, and a lone request is not held back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from serving_support import assert_unbatched, call, plans_frame, serving

from shipyard.errors import ModelError, Overloaded, Unavailable
from shipyard.serving.dataplane import InferenceResult


def test_a_request_that_breaks_the_model_fails_alone(serving_home: Path) -> None:
    frame, _ = plans_frame(60, seed=5)
    culprit = frame.head(2).assign(plan=["enterprise", "basic"])  # a plan the encoder never saw

    async def run() -> None:
        async with serving(serving_home, ["pipe"]) as (dataplane, recorder):
            calls = [call("pipe", frame.iloc[i : i + 2], request_id=f"r{i}") for i in range(40)]
            calls[17] = call("pipe", culprit, request_id="culprit")
            results = await asyncio.gather(*(dataplane.infer(c) for c in calls), return_exceptions=True)
            assert isinstance(results[17], ModelError)
            for i, result in enumerate(results):
                if i != 17:
                    assert isinstance(result, InferenceResult), (i, result)
                    assert_unbatched(result)
            assert [f.request_id for f in recorder.failures] == ["culprit"]
            isolated = [b for b in recorder.batches if b.isolated]
            assert len(isolated) == 1 and isolated[0].failed == 1 and isolated[0].requests > 1

    asyncio.run(run())


def test_two_versions_served_at_once_never_share_a_call(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        async with serving(serving_home, ["lr/1", "lr/2"]) as (dataplane, recorder):
            calls = [call("lr", X[i : i + 1], request_id=f"r{i}", version=1 + i % 2) for i in range(200)]
            results = await asyncio.gather(*(dataplane.infer(c) for c in calls))
            first, second = {r.served.version: r.served for r in results}.values()
            assert first.batcher is not second.batcher
            for i, result in enumerate(results):
                assert result.served.version == 1 + i % 2
                assert_unbatched(result)
            # The two versions were trained on opposite labels: a mixed call would show.
            labels = {v: {int(r.outputs["predict"][0]) ^ int(r.served.version == 2) for r in results} for v in (1, 2)}
            assert labels[1] == labels[2]
            assert {b.version for b in recorder.batches} == {1, 2}
            assert sum(b.requests for b in recorder.batches if b.version == 1) == 100
            assert max(b.requests for b in recorder.batches) > 1

    asyncio.run(run())


def test_cancelled_requests_leave_without_disturbing_the_rest(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        async with serving(serving_home, ["clf"]) as (dataplane, recorder):
            tasks = [
                asyncio.create_task(dataplane.infer(call("clf", X[i : i + 2], request_id=f"r{i}"))) for i in range(300)
            ]
            await asyncio.sleep(0)  # every request is queued (the first one running)
            for task in tasks[1::3]:
                task.cancel()
            await asyncio.sleep(0.001)
            for task in tasks[2::5]:
                task.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            kept = [r for r in done if not isinstance(r, asyncio.CancelledError)]
            assert all(isinstance(r, InferenceResult) for r in kept)
            for result in kept:
                assert isinstance(result, InferenceResult)
                assert_unbatched(result)
            batcher = dataplane.resolve("clf").batcher
            assert batcher.waiting == 0
            # Skipped slots are not called: the batches hold at most the requests not cancelled.
            assert len(kept) <= sum(b.requests for b in recorder.batches) < 300
            assert not recorder.failures
            after = await dataplane.infer(call("clf", X[:3], request_id="after"))
            assert_unbatched(after)

    asyncio.run(run())


def test_timed_out_requests_leave_and_late_answers_are_dropped(serving_home: Path) -> None:
    """One call at a time: "stuck" times out during its call, "doomed" while queued behind
    it. Requests sent meanwhile wait for the stuck call and succeed; "doomed" is skipped."""

    async def run() -> None:
        settings = {"request_timeout_seconds": 1.0, "inference_threads": 1}
        async with serving(serving_home, ["slow"], **settings) as (dataplane, recorder):
            stuck = asyncio.create_task(dataplane.infer(call("slow", [[1.5, 1.0]], request_id="stuck")))
            await asyncio.sleep(0.1)
            doomed = asyncio.create_task(dataplane.infer(call("slow", [[0.0, 1.0]], request_id="doomed")))
            with pytest.raises(Unavailable, match="did not answer within"):
                await stuck
            quick = [dataplane.infer(call("slow", [[0.0, float(i)]], request_id=f"q{i}")) for i in range(10)]
            answers = await asyncio.gather(*quick)
            assert [float(a.outputs["predict"][0]) for a in answers] == [float(i) for i in range(10)]
            with pytest.raises(Unavailable, match="did not answer within"):
                await doomed
            assert sorted(f.request_id for f in recorder.failures) == ["doomed", "stuck"]
            assert sum(b.requests for b in recorder.batches) == 11  # the stuck call and the quick ones
            batcher = dataplane.resolve("slow").batcher
            assert batcher.waiting == 0

    asyncio.run(run())


def test_a_full_queue_answers_overloaded_at_once_with_retry_after(serving_home: Path) -> None:
    """The bound is per model (``[models.slow] max_queue = 2``): a third waiting request is refused."""

    async def run() -> None:
        overrides = {"slow": {"max_queue": 2}}
        async with serving(serving_home, ["slow", "clf"], inference_threads=1, models=overrides) as (dataplane, _):
            running = asyncio.create_task(dataplane.infer(call("slow", [[0.6, 0.0]], request_id="running")))
            await asyncio.sleep(0.1)
            queued = [
                asyncio.create_task(dataplane.infer(call("slow", [[0.0, 1.0]], request_id=f"w{i}"))) for i in range(2)
            ]
            await asyncio.sleep(0.01)
            with pytest.raises(Overloaded) as refused:
                await dataplane.infer(call("slow", [[0.0, 1.0]], request_id="refused"))
            assert refused.value.http_status == 503
            assert int(refused.value.details["retry_after"]) >= 1
            assert dataplane.resolve("clf").batcher.policy.max_queue == 512  # other models keep the default
            await asyncio.gather(running, *queued)
            after = await dataplane.infer(call("slow", [[0.0, 2.0]], request_id="after"))
            assert float(after.outputs["predict"][0]) == 2.0

    asyncio.run(run())


def test_the_python_class_model_is_never_merged(serving_home: Path) -> None:
    async def run() -> None:
        async with serving(serving_home, ["slow"]) as (dataplane, recorder):
            assert dataplane.resolve("slow").batcher.batching is False
            calls = [call("slow", [[0.0, float(i)], [0.0, 1.0]], request_id=f"r{i}") for i in range(100)]
            results = await asyncio.gather(*(dataplane.infer(c) for c in calls))
            assert [r.outputs["predict"].tolist() for r in results] == [[float(i), 1.0] for i in range(100)]
            assert len(recorder.batches) == 100 and {b.requests for b in recorder.batches} == {1}

    asyncio.run(run())


def test_batching_can_be_turned_off_per_model(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        async with serving(serving_home, ["clf", "reg"], models={"clf": {"batching": False}}) as (dataplane, recorder):
            assert dataplane.resolve("clf").batcher.batching is False
            assert dataplane.resolve("reg").batcher.batching is True
            results = await asyncio.gather(
                *(dataplane.infer(call("clf", X[i : i + 1], request_id=f"r{i}")) for i in range(50))
            )
            for result in results:
                assert_unbatched(result)
            assert {b.requests for b in recorder.batches} == {1}

    asyncio.run(run())


def test_a_lone_request_is_dispatched_without_waiting(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    """With a generous max wait, a burst teaches the batcher the arrival rate and compute
    time; a request arriving alone after a pause is still not held back for company."""
    X, _ = classification_data
    max_wait = 0.25

    async def run() -> None:
        async with serving(serving_home, ["clf"], max_batch_wait_ms=max_wait * 1000) as (dataplane, recorder):
            first = await dataplane.infer(call("clf", X[:1], request_id="first"))
            assert_unbatched(first)
            for burst in range(3):
                await asyncio.gather(
                    *(dataplane.infer(call("clf", X[i : i + 1], request_id=f"b{burst}-{i}")) for i in range(100))
                )
            await asyncio.sleep(0.3)
            lone = await dataplane.infer(call("clf", X[5:6], request_id="lone"))
            assert_unbatched(lone)
            queued = {r.request_id: r.queue_seconds for r in recorder.records}
            assert queued["first"] < max_wait and queued["lone"] < max_wait
            assert recorder.batches[-1].requests == 1 and recorder.batches[-1].queue_seconds < max_wait

    asyncio.run(run())
