"""Controls changed in the registry while a server runs reach it on the watcher's cadence."""

from __future__ import annotations

import time

from homes import open_home
from live_server import LiveServer
from shipyard.sdk.payloads import v2_request


def test_new_controls_are_followed_without_a_restart(server: LiveServer) -> None:
    body = v2_request({"age": [150.0], "income": [50_000.0], "plan": ["basic"]})
    with server.client() as client:
        assert client.post("/v2/models/churn_off/infer", json=body).status_code == 200
        svc = open_home(server.home)
        try:
            svc.store.controls.set("churn_off", {"guardrails": {"inputs": "reject"}}, actor="user:test")
            deadline = time.monotonic() + 10
            status = 200
            while time.monotonic() < deadline and status == 200:
                time.sleep(0.2)
                status = client.post("/v2/models/churn_off/infer", json=body).status_code
            assert status == 422
        finally:
            svc.store.controls.set("churn_off", {"guardrails": {"inputs": "off", "outputs": False}}, actor="user:test")
            svc.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.2)
            status = client.post("/v2/models/churn_off/infer", json=body).status_code
        assert status == 200
