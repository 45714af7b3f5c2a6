"""Done-means: ``kill -9`` of a server under load, 20 times over, in ``sync`` mode. Every
request answered 200 is in the log after the restart, and no segment holds a torn record."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from predlog_support import read_records, segment_files, torn_files, v2_body

from live_server import LiveServer

pytestmark = pytest.mark.slow

KILLS = 20
CLIENTS = 4


def _load(url: str, prefix: str, acked: list[str], stop: threading.Event) -> None:
    """Send requests one after another until ``stop``; note the ids answered 200."""
    rng = random.Random(prefix)
    with httpx.Client(base_url=url, timeout=5.0) as client:
        n = 0
        while not stop.is_set():
            rid = f"{prefix}-{n}"
            n += 1
            rows = [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(rng.randint(1, 4))]
            try:
                r = client.post(
                    "/v2/models/lr/infer", json=v2_body(rows), headers={"X-Request-Id": rid, "X-Prediction-Key": rid}
                )
            except httpx.TransportError:
                continue  # the server was killed mid-request: not acknowledged
            if r.status_code == 200:
                acked.append(rid)


def test_kill_9_under_load_loses_no_acknowledged_prediction(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings={"open_inference": "*", "log_mode": "sync"})
    acked: list[str] = []
    rng = random.Random(8)
    try:
        for round_ in range(KILLS):
            server.start()  # recovery of the previous round's files runs before it is ready
            if round_:
                assert torn_files(lr_home) == [], f"round {round_}: a torn record survived recovery"
            before = len(acked)
            stop = threading.Event()
            threads = [
                threading.Thread(target=_load, args=(server.url, f"r{round_}c{c}", acked, stop)) for c in range(CLIENTS)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.15, 0.5))
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)  # under load, no warning
            server.proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=10)
            server.stop()
            if len(acked) > before:
                assert any(p.suffix == ".open" for p in segment_files(lr_home)), "the killed writer left no open file"
        server.start()
        server.stop()
    finally:
        server.stop()
    logged = {r["request_id"] for r in read_records(lr_home)}
    lost = [rid for rid in acked if rid not in logged]
    assert len(acked) > KILLS * 20, f"too little load to mean anything: {len(acked)} acknowledged"
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged predictions are missing from the log"
    assert torn_files(lr_home) == []
    assert all(p.suffix == ".seg" for p in segment_files(lr_home))
