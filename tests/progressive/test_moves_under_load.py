"""Zero failed requests while traffic moves: a blue/green flip and its switch back, a
canary's promotion and a rollback, each under load from several client connections.

The moves are made as an operator makes them (``rollout.operations``, what ``shipyard
deploy promote|rollback`` and the API call), while four client threads keep posting; the
server (two workers) picks each new revision up at its next poll.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rollout_support import FAST, Load, apply, build_fraud, wait_for

from homes import open_home
from live_server import LiveServer
from shipyard.rollout import operations

BLUEGREEN = """\
deployment: fraud
strategy: bluegreen
variants:
  blue: {model: fraud/1, role: primary}
  green: {model: fraud/6, role: canary, weight: 0}
"""

CANARY = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 20}
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    build_fraud(home)
    return home


def move(home: Path, what: str, **kwargs: object) -> int:
    services = open_home(home)
    try:
        fn = operations.promote if what == "promote" else operations.rollback
        return fn(services.store, "fraud", actor="user:test", **kwargs).revision.revision  # type: ignore[arg-type]
    finally:
        services.close()


def answered_by(load: Load, variant: str, at_least: int) -> bool:
    with load._lock:
        return load.variants[variant] >= at_least


def test_a_blue_green_flip_and_the_switch_back_fail_no_request(home: Path) -> None:
    apply(home, BLUEGREEN)
    settings = {**FAST, "workers": "2"}
    with LiveServer(home, ["fraud"], settings=settings) as server, Load(server, threads=4) as load:
        wait_for(lambda: load.total > 200)
        assert load.variants["green"] == 0  # loaded and warmed at 0%
        move(home, "promote")  # the flip: green takes all the traffic at once
        wait_for(lambda: answered_by(load, "green", 300), timeout=30)
        before = load.variants["blue"]
        move(home, "rollback")  # the switch back: blue was kept loaded
        wait_for(lambda: load.variants["blue"] > before + 300, timeout=30)
    assert load.statuses[200] == load.total, load.failures
    services = open_home(home)
    try:
        revisions = services.store.deployments.history("fraud")
    finally:
        services.close()
    flipped = revisions[1].spec["variants"]
    assert flipped == {"green": {"model": "fraud/6", "role": "primary"},
                       "blue": {"model": "fraud/1", "role": "canary", "weight": 0}}  # fmt: skip
    assert revisions[2].spec == revisions[0].spec  # the rollback restores the first revision's spec


def test_a_promotion_and_a_rollback_under_load_fail_no_request(home: Path) -> None:
    apply(home, CANARY)
    with LiveServer(home, ["fraud"], settings=FAST) as server, Load(server, threads=4) as load:
        wait_for(lambda: answered_by(load, "candidate", 50))
        move(home, "promote")
        # After the promotion the primary variant (named stable) serves version 2 alone.
        wait_for(lambda: answered_by(load, "stable", 0) and _served_version(server) == "2", timeout=30)
        mark = load.total
        wait_for(lambda: load.total > mark + 300)
        before = load.variants["candidate"]
        move(home, "rollback")  # back to the revision with the canary at 20%
        wait_for(lambda: answered_by(load, "candidate", before + 50), timeout=30)
    assert load.statuses[200] == load.total, load.failures


def _served_version(server: LiveServer) -> str:
    with server.client(timeout=10) as client:
        response = client.post("/v2/models/fraud/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]})  # fmt: skip
        return response.headers.get("x-shipyard-model-version", "")
