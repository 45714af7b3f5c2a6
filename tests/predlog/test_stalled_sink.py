"""Done-means: a slow sink. The segments' disk really stalls (an ext4 image frozen with
``fsfreeze``: every write to it blocks) or really fills up (a 256 KiB tmpfs). Memory stays
under ``log_memory_bytes``, spills and drops are counted in ``/metrics``, and the server
keeps answering. When the stalled disk thaws, the spilled records are replayed into it."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from mounts import fill, freezable_disk, frozen, small_tmpfs
from predlog_support import read_records, torn_files, v2_body

from live_server import LiveServer

pytestmark = pytest.mark.slow

MEMORY = 64 * 1024
SPILL = 96 * 1024


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def _burst(url: str, n_threads: int, per_thread: int, rows: int) -> list[int]:
    """Concurrent requests of ``rows`` rows each; returns their statuses."""
    statuses: list[int] = []

    def run(c: int) -> None:
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for i in range(per_thread):
                data = [[float(i), float(c), 0.5]] * rows
                statuses.append(client.post("/v2/models/lr/infer", json=v2_body(data)).status_code)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def test_a_stalled_disk_keeps_memory_capped_spills_drops_and_serves(lr_home: Path, tmp_path: Path) -> None:
    segments = lr_home / "predlog" / "segments"
    settings = {
        "open_inference": "*",
        "log_memory_bytes": str(MEMORY),
        "log_spill_bytes": str(SPILL),
        "log_flush_ms": "10",
    }
    with freezable_disk(segments, tmp_path / "segments.img"):
        with LiveServer(lr_home, ["lr"], settings=settings) as server, server.client() as client:
            assert _burst(server.url, 1, 5, 1) == [200] * 5
            with frozen(segments):
                started = time.monotonic()
                statuses = _burst(server.url, 4, 60, 40)
                elapsed = time.monotonic() - started
                assert statuses == [200] * 240, "the server stopped answering while its log disk stalled"
                assert client.get("/v2/health/ready").status_code == 200
                time.sleep(0.3)
                metrics = client.get("/metrics").text
                assert _metric(metrics, "shipyard_predlog_queue_peak_bytes") <= MEMORY
                assert _metric(metrics, "shipyard_predlog_queue_bytes") <= MEMORY
                spilled = _metric(metrics, "shipyard_predlog_records_total", 'outcome="spilled"')
                dropped = _metric(metrics, "shipyard_predlog_records_total", 'outcome="dropped"')
                assert spilled > 0 and dropped > 0, (spilled, dropped)
                assert _metric(metrics, "shipyard_predlog_lag_seconds") > 0
                spill_dir = lr_home / "predlog" / "spill"
                assert sum(p.stat().st_size for p in spill_dir.iterdir()) <= SPILL
                assert elapsed < 30
            # Thawed: the writer gets on, and the spill is replayed into segments.
            deadline = time.monotonic() + 15
            while True:
                metrics = client.get("/metrics").text
                replayed = _metric(metrics, "shipyard_predlog_records_total", 'outcome="replayed"')
                if replayed >= spilled or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert replayed == spilled
            written = _metric(metrics, "shipyard_predlog_records_total", 'outcome="written"')
        records = read_records(lr_home)
        assert len(records) == written + replayed == 245 - dropped
        assert torn_files(lr_home) == []


def test_a_full_disk_drops_and_counts_and_serves(lr_home: Path) -> None:
    segments = lr_home / "predlog" / "segments"
    settings = {"open_inference": "*", "log_memory_bytes": str(MEMORY), "log_overflow": "drop", "log_flush_ms": "10"}
    with small_tmpfs(segments, "256k"):
        fill(segments)
        with LiveServer(lr_home, ["lr"], settings=settings) as server, server.client() as client:
            statuses = _burst(server.url, 4, 25, 40)
            assert statuses == [200] * 100
            time.sleep(0.3)
            metrics = client.get("/metrics").text
            assert _metric(metrics, "shipyard_predlog_records_total", 'outcome="dropped"') == 100
            assert _metric(metrics, "shipyard_predlog_records_total", 'outcome="spilled"') == 0
            assert _metric(metrics, "shipyard_predlog_records_total", 'outcome="written"') == 0
            assert _metric(metrics, "shipyard_predlog_queue_peak_bytes") <= MEMORY
            assert client.get("/v2/health/ready").status_code == 200


def test_sync_mode_on_a_full_disk_fails_requests_and_counts_them_as_failures(lr_home: Path) -> None:
    # In sync mode a prediction that cannot be made durable is never acknowledged: 503, and
    # the serving metrics count it as a failure, not as an answered request.
    segments = lr_home / "predlog" / "segments"
    settings = {"open_inference": "*", "log_mode": "sync", "log_flush_ms": "10"}
    with small_tmpfs(segments, "256k"):
        fill(segments)
        with LiveServer(lr_home, ["lr"], settings=settings) as server, server.client() as client:
            statuses = _burst(server.url, 2, 5, 40)
            assert statuses == [503] * 10
            metrics = client.get("/metrics").text
            failed = sum(
                float(v)
                for v in re.findall(
                    r'^shipyard_inference_errors_total\{[^}]*code="storage_error"[^}]*\} ([0-9.e+]+)$',
                    metrics,
                    re.MULTILINE,
                )
            )
            answered = sum(
                float(v)
                for v in re.findall(
                    r'^shipyard_inference_requests_total\{[^}]*model="lr"[^}]*\} ([0-9.e+]+)$', metrics, re.MULTILINE
                )
            )
            assert (failed, answered) == (10, 0)
            assert client.get("/v2/health/ready").status_code == 200
