"""``PredictionLog`` on a real directory: group commit, sync durability, bounded memory,
sampling, failures, sealing, and spill to a second disk when the first is full."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from mounts import fill, small_tmpfs
from predlog_support import read_records, segment_files, torn_files

from shipyard.errors import StorageError
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.monitoring.predlog.record import approx_bytes
from shipyard.monitoring.predlog.sampling import Sampler
from shipyard.monitoring.predlog.writer import PredictionLog
from shipyard.schema.batch import Batch
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.serving.events import InferenceFailure, InferenceRecord

SIGNATURE = Signature("columns", (FieldSpec("a", "float64"), FieldSpec("b", "float64")), frame=True)


def record(i: int, rows: int = 2, model: str = "m", key: str | None = None) -> InferenceRecord:
    matrix = np.arange(rows * 2, dtype="f8").reshape(rows, 2) + i
    return InferenceRecord(
        request_id=f"req-{i}",
        model=model,
        version=1,
        protocol="v2",
        caller="key:test",
        rows=rows,
        started_at=time.time(),
        duration_seconds=0.001,
        compute_seconds=0.0005,
        batch=Batch(SIGNATURE, matrix=matrix),
        outputs={"predict": np.arange(rows) % 2, "predict_proba": np.full((rows, 2), 0.5)},
        key=key,
    )


def home_of(tmp_path: Path) -> Path:
    return tmp_path


def test_batch_mode_writes_every_record_and_seals_on_close(tmp_path: Path) -> None:
    async def main() -> PredictionLog:
        log = PredictionLog(tmp_path / "predlog", flush_ms=5)
        log.start()
        for i in range(300):
            assert log.on_inference(record(i, key=f"k{i}")) is None
        await log.close()
        return log

    log = asyncio.run(main())
    records = read_records(tmp_path)
    assert [r["request_id"] for r in records] == [f"req-{i}" for i in range(300)]
    assert records[7]["inputs"] == {"a": [7.0, 9.0], "b": [8.0, 10.0]}
    assert records[7]["outputs"] == {"predict": [0, 1], "predict_proba": [[0.5, 0.5], [0.5, 0.5]]}
    assert records[7]["key"] == "k7" and records[7]["status"] == 200 and records[7]["target"] == "m"
    assert all(p.suffix == ".seg" for p in segment_files(tmp_path))
    assert log.stats()["written"] == 300 and log.queued_bytes == 0


def test_batch_mode_group_commits(tmp_path: Path) -> None:
    metrics = ServingMetrics()

    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", flush_ms=50, metrics=metrics)
        log.start()
        for i in range(500):
            log.on_inference(record(i))
            if i % 100 == 0:
                await asyncio.sleep(0)
        await log.close()

    asyncio.run(main())
    commits = metrics.registry.get_sample_value("shipyard_predlog_fsync_seconds_count")
    written = metrics.registry.get_sample_value("shipyard_predlog_records_total", {"outcome": "written"})
    assert written == 500
    assert commits is not None and 1 <= commits <= 10, commits


def test_sync_mode_answers_only_once_the_record_is_on_disk(tmp_path: Path) -> None:
    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", mode="sync", flush_ms=1000)
        log.start()
        futures = [log.on_inference(record(i)) for i in range(20)]
        for i, future in enumerate(futures):
            assert future is not None
            await asyncio.wait_for(future, 5)
            # Durable now: it is in the open segment's bytes, without closing anything.
            ids = {r["request_id"] for r in read_records(tmp_path)}
            assert f"req-{i}" in ids
        await log.close()

    asyncio.run(main())


def test_memory_is_capped_and_drops_are_counted_when_the_sink_does_not_drain(tmp_path: Path) -> None:
    async def main() -> None:
        cap = 64 * 1024
        log = PredictionLog(tmp_path / "predlog", overflow="drop", memory_bytes=cap)
        # Not started: nothing drains the queue, as with a sink that hangs.
        size = approx_bytes(record(0, rows=50))
        for i in range(200):
            log.on_inference(record(i, rows=50))
        stats = log.stats()
        assert stats["peak_bytes"] <= cap and stats["queued_bytes"] <= cap
        assert stats["dropped"] == 200 - cap // size
        log.start()
        await log.close()
        assert len(read_records(tmp_path)) == cap // size

    asyncio.run(main())


def test_sync_mode_fails_the_request_rather_than_dropping(tmp_path: Path) -> None:
    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", mode="sync", memory_bytes=64 * 1024)
        log._loop = asyncio.get_running_loop()  # as start() would, but with no writer draining
        failed = 0
        for i in range(200):
            future = log.on_inference(record(i, rows=50))
            assert future is not None
            if future.done():
                with pytest.raises(StorageError):
                    future.result()
                failed += 1
            else:
                future.cancel()
        assert failed > 0 and log.stats()["failed"] == failed and log.stats()["dropped"] == 0

    asyncio.run(main())


def test_sampling_is_per_target_and_counted(tmp_path: Path) -> None:
    async def main() -> PredictionLog:
        log = PredictionLog(tmp_path / "predlog", flush_ms=5, sampler=Sampler.parse("skip=0,half=0.5"))
        log.start()
        for i in range(400):
            log.on_inference(record(i, model="skip"))
            log.on_inference(record(i, model="half"))
            log.on_inference(record(i, model="all"))
        await log.close()
        return log

    log = asyncio.run(main())
    by_target: dict[str, set[str]] = {}
    for r in read_records(tmp_path):
        by_target.setdefault(r["target"], set()).add(r["request_id"])
    assert "skip" not in by_target and len(by_target["all"]) == 400
    assert 140 < len(by_target["half"]) < 260
    assert log.stats()["sampled_out"] == 400 + (400 - len(by_target["half"]))
    # Deterministic: the same request ids are kept again.
    kept = by_target["half"]
    sampler = Sampler.parse("half=0.5")
    assert kept == {f"req-{i}" for i in range(400) if sampler.keep("half", f"req-{i}")}


def test_failures_are_logged_without_inputs(tmp_path: Path) -> None:
    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", mode="sync", flush_ms=5)
        log.start()
        log.on_failure(
            InferenceFailure(
                request_id="bad-1",
                model="m",
                version=1,
                protocol="v2",
                code="signature_mismatch",
                duration_seconds=0.0001,
                status=400,
                caller="key:x",
                key="order-9",
                deployment="d",
                variant="canary",
                revision=3,
            )
        )
        await log.close()

    asyncio.run(main())
    (rec,) = read_records(tmp_path)
    assert rec["status"] == 400 and rec["code"] == "signature_mismatch"
    assert rec["inputs"] is None and rec["outputs"] is None and rec["rows"] == 0
    assert rec["target"] == "d" and rec["variant"] == "canary" and rec["key"] == "order-9"


def test_a_quiet_writers_segment_is_sealed_after_seal_seconds(tmp_path: Path) -> None:
    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", flush_ms=5, seal_seconds=0.2)
        log.start()
        log.on_inference(record(1))
        deadline = time.monotonic() + 5
        while not any(p.suffix == ".seg" for p in segment_files(tmp_path)):
            assert time.monotonic() < deadline, "never sealed"
            await asyncio.sleep(0.05)
        log.on_inference(record(2))
        await log.close()

    asyncio.run(main())
    assert [r["request_id"] for r in read_records(tmp_path)] == ["req-1", "req-2"]
    assert len(segment_files(tmp_path)) == 2


def test_segments_roll_at_segment_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        log = PredictionLog(tmp_path / "predlog", flush_ms=1, segment_bytes=4096)
        log.start()
        for i in range(200):
            log.on_inference(record(i))
            if i % 10 == 9:
                await asyncio.sleep(0.01)
        await log.close()

    asyncio.run(main())
    files = segment_files(tmp_path)
    # Each segment is sealed once it reaches 4 KiB (by the commit that crosses it).
    assert all(p.stat().st_size >= 4096 for p in files[:-1])
    assert len(files) > 3 and all(p.suffix == ".seg" for p in files)
    assert len(read_records(tmp_path)) == 200 and torn_files(tmp_path) == []


def test_a_full_disk_spills_and_the_spill_is_replayed_when_room_returns(tmp_path: Path) -> None:
    segments = tmp_path / "predlog" / "segments"
    with small_tmpfs(segments, "64k"):
        filler = fill(segments)

        async def main() -> PredictionLog:
            log = PredictionLog(tmp_path / "predlog", flush_ms=5)
            log.start()
            for i in range(100):
                log.on_inference(record(i))
            deadline = time.monotonic() + 10
            while log.stats()["spilled"] < 100:
                assert time.monotonic() < deadline, log.stats()
                await asyncio.sleep(0.05)
            assert read_records(tmp_path) == []
            filler.unlink()  # room again: the writer replays the spill into segments
            deadline = time.monotonic() + 10
            while log.stats()["replayed"] < 100:
                assert time.monotonic() < deadline, log.stats()
                await asyncio.sleep(0.05)
            await log.close()
            return log

        log = asyncio.run(main())
        ids = sorted(r["request_id"] for r in read_records(tmp_path))
        assert ids == sorted(f"req-{i}" for i in range(100))
        assert log.stats()["dropped"] == 0
        assert list((tmp_path / "predlog" / "spill").glob("*.spill")) == []
