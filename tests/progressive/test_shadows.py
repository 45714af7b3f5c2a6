"""Shadows on a real server: copies are computed off the request path, compared, reported,
and never change what the caller gets.

``fraud`` serves its primary (v1) with two shadows: v3 raises on every request, v4 answers
right but 40 ms late. The primary's answers must be exactly what v1 answers on its own,
every status 200; the shadow report then shows the broken shadow's errors and the slow
one's agreement and latency delta. (That latency stays unaffected is measured by
``make bench``, not asserted here: no timing assertions in tests.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rollout_support import FAST, apply, body, build_fraud, wait_for

from homes import open_home
from live_server import LiveServer
from shipyard.errors import Conflict
from shipyard.registry.refs import parse_ref
from shipyard.rollout import operations

SHADOWED = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  broken: {model: fraud/3, role: shadow}
  slow: {model: fraud/4, role: shadow, sample: 1.0}
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("shadows") / "home"
    build_fraud(home)
    apply(home, SHADOWED)
    return home


def expected_labels(home: Path, n: int) -> list[int]:
    """What v1 answers on its own, in process, for ``body(i)``, i < n."""
    services = open_home(home)
    try:
        record = services.store.resolve(parse_ref("fraud/1"))
        model = services.registry.load_version(record)
        rows = np.array([body(i)["inputs"][0]["data"] for i in range(n)])  # type: ignore[index]
        return [int(v) for v in model.predict_array(rows)["predict"].tolist()]
    finally:
        services.close()


def report(home: Path) -> dict[str, dict[str, object]]:
    services = open_home(home)
    try:
        found = operations.shadow_report(services.store, "fraud")
        return {row["variant"]: row for row in found["shadows"]}
    finally:
        services.close()


def test_failing_and_slow_shadows_never_change_the_primary_answer(home: Path) -> None:
    n = 120
    want = expected_labels(home, n)
    with LiveServer(home, ["fraud"], settings=FAST) as server, server.client(timeout=30) as client:
        for i in range(n):
            response = client.post("/v2/models/fraud/infer", json=body(i), headers={"X-Request-Id": f"s-{i}"})
            assert response.status_code == 200, response.text
            assert response.headers["x-shipyard-variant"] == "stable"
            assert response.json()["outputs"][0]["data"] == [want[i]]
        rows = wait_for(lambda: (r := report(home)) and r.get("slow", {}).get("copies", 0) >= n // 2 and r, timeout=30)
    assert isinstance(rows, dict)
    broken, slow = rows["broken"], rows["slow"]
    assert broken["errors"] == broken["copies"] and int(broken["copies"]) > 0  # type: ignore[call-overload]
    assert broken["agreement"] is None
    assert slow["errors"] == 0 and slow["agreement"] == 1.0
    assert float(slow["mean_latency_delta_ms"]) > 20  # type: ignore[arg-type]  # it sleeps 40 ms a call


def test_a_full_shadow_queue_drops_copies_and_counts_them(home: Path) -> None:
    settings = {**FAST, "shadow_queue": "1", "shadow_threads": "1"}
    with LiveServer(home, ["fraud"], settings=settings) as server, server.client(timeout=30) as client:
        for i in range(60):
            response = client.post("/v2/models/fraud/infer", json=body(i))
            assert response.status_code == 200
        metrics = client.get("/metrics").text
        dropped = [line for line in metrics.splitlines() if line.startswith("shipyard_shadow_requests_total")
                   and 'result="dropped"' in line]  # fmt: skip
        assert dropped and sum(float(line.rsplit(" ", 1)[1]) for line in dropped) > 0, metrics[-3000:]
        wait_for(lambda: sum(int(r["dropped"]) for r in report(home).values()) > 0, timeout=10)  # type: ignore[call-overload]


def test_the_shadow_report_gates_a_promotion(home: Path) -> None:
    """After the traffic above: the broken shadow has no agreeing answer to show, the slow one
    agreed on every row; only the latter can be promoted with ``min_agreement``."""
    services = open_home(home)
    try:
        store = services.store
        with pytest.raises(Conflict, match="no compared answers"):
            operations.promote(store, "fraud", variant="broken", min_agreement=0.95, actor="user:test")
        applied = operations.promote(store, "fraud", variant="slow", min_agreement=0.95, actor="user:test")
        assert applied.revision.spec["variants"]["stable"] == {"model": "fraud/4", "role": "primary"}
        assert "slow" not in applied.revision.spec["variants"]
    finally:
        services.close()
