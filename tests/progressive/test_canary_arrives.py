"""Clients keep their URL when a canary arrives: a deployment applied under the name of a
model a running server serves takes over that name's unversioned routes at the next poll,
and the model answers again once the deployment is deleted. No request fails meanwhile."""

from __future__ import annotations

from pathlib import Path

from rollout_support import FAST, Load, apply, build_fraud, wait_for

from homes import open_home
from live_server import LiveServer

CANARY = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 30}
"""


def test_a_deployment_takes_over_a_served_model_name_and_gives_it_back(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_fraud(home)
    with LiveServer(home, ["fraud@production"], settings=FAST) as server, Load(server, threads=4) as load:
        wait_for(lambda: load.total > 100)
        assert set(load.variants) == {"?"}  # a plain model: no variant header
        apply(home, CANARY)
        wait_for(lambda: load.variants["candidate"] > 50 and load.variants["stable"] > 50, timeout=30)
        with server.client() as client:
            exact = client.post("/v2/models/fraud/versions/1/infer", json={"inputs": [
                {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]})  # fmt: skip
            assert exact.status_code == 200 and "x-shipyard-variant" not in exact.headers
        services = open_home(home)
        try:
            services.store.deployments.delete("fraud", actor="user:test")
        finally:
            services.close()
        mark = load.variants["?"]
        wait_for(lambda: load.variants["?"] > mark + 100, timeout=30)
    assert load.statuses[200] == load.total, load.failures
