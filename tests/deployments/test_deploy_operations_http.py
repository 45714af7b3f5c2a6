"""Operating deployments over HTTP against a real server: status and reports, promote /
rollback / pause / resume (applied at once by the server that received them), outcomes of
real inference requests (201/200/409/404/400) and the experiment report they feed; scopes
on the deployment's name and malformed bodies."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from deployment_specs import RANKER_SPEC
from homes import open_home
from live_server import LiveServer, create_key
from shipyard.rollout.service import apply_spec

ROW = [0.5, -1.0, 0.25, 2.0]
FAST = {"rollout_tick_seconds": "0.2", "alias_poll_seconds": "0.2"}
# A canary without analysis: nothing moves unless told to.
MOVES_SPEC = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 10}
  shadowed: {model: fraud/3, role: shadow, sample: 1.0}
"""


def build(home: Path) -> None:
    """fraud v1..v3 (``production`` → 1) and ranker v1..v2, on the same four columns; the
    ``fraud`` canary and the ``ranker`` experiment applied."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    services = open_home(home)
    try:
        for name, strengths in (("fraud", (1.0, 0.5, 0.2)), ("ranker", (1.0, 0.3))):
            for c in strengths:
                services.registry.register(name, LogisticRegression(C=c).fit(X, y), sample=X[:3], compile=False)
        services.store.set_alias("fraud", "production", 1)
        for text in (MOVES_SPEC, RANKER_SPEC):
            apply_spec(services.store, text, actor="user:test", reason="setup")
    finally:
        services.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("deploy-ops-http")
    build(home)
    with LiveServer(home, ["fraud", "ranker"], settings=FAST) as srv:
        yield srv


def infer(client: httpx.Client, name: str, request_id: str, **headers: str) -> httpx.Response:
    body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
    response = client.post(f"/v2/models/{name}/infer", json=body, headers={"X-Request-Id": request_id, **headers})
    assert response.status_code == 200, response.text
    return response


def bearer(server: LiveServer, role: str, models: tuple[str, ...] = ("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(server.home, role, models)}"}


# -- reading --------------------------------------------------------------------------------
def test_status_and_reports(server: LiveServer) -> None:
    with server.client(timeout=30) as client:
        for i in range(5):
            infer(client, "fraud", f"status-{i}")
        status = client.get("/api/deployments/fraud/status", params={"window": 30})
        assert status.status_code == 200, status.text
        found = status.json()
        assert found["window_seconds"] == 30 and found["strategy"] == "canary" and found["rollout"] is None
        assert [v["variant"] for v in found["variants"]] == ["stable", "candidate", "shadowed"]
        assert client.get("/api/deployments/fraud/status").json()["window_seconds"] == 60

        since = datetime.now(UTC).replace(microsecond=0).isoformat()
        shadow = client.get("/api/deployments/fraud/shadow-report", params={"since": since})
        assert shadow.status_code == 200, shadow.text
        assert shadow.json()["configured"] == ["shadowed"]
        until = time.time() + 5
        ranged = client.get("/api/deployments/fraud/shadow-report", params={"since": until - 60, "until": until})
        assert ranged.status_code == 200 and ranged.json()["until"] == pytest.approx(until)

        report = client.get("/api/deployments/ranker/experiment-report", params={"metric": "revenue"})
        assert report.status_code == 200 and report.json()["metric"] == "revenue"

        for path, params, code in (
            ("/api/deployments/fraud/status", {"window": "abc"}, 400),
            ("/api/deployments/fraud/status", {"window": "0"}, 400),
            ("/api/deployments/fraud/status", {"window": "1e9"}, 400),
            ("/api/deployments/fraud/shadow-report", {"since": "yesterday"}, 400),
            ("/api/deployments/fraud/shadow-report", {"since": "2000", "until": "1000"}, 400),
            ("/api/deployments/fraud/experiment-report", {}, 400),
            ("/api/deployments/ranker/experiment-report", {"metric": "no spaces"}, 400),
            ("/api/deployments/nope/status", {}, 404),
            ("/api/deployments/nope/shadow-report", {}, 404),
            ("/api/deployments/nope/experiment-report", {}, 404),
        ):
            response = client.get(path, params=params)
            assert response.status_code == code, (path, params, response.text)
            assert set(response.json()) >= {"error", "code"}


# -- moves ----------------------------------------------------------------------------------
def served_by(client: httpx.Client, prefix: str, n: int = 12) -> set[tuple[str, int]]:
    """(model version, revision) of ``n`` requests with distinct ids."""
    seen = set()
    for i in range(n):
        response = infer(client, "fraud", f"{prefix}-{i}")
        seen.add((response.headers["x-shipyard-model-version"], response.json()["parameters"]["revision"]))
    return seen


def test_moves_apply_at_once_on_this_server(server: LiveServer) -> None:
    with server.client(timeout=60) as client:
        assert served_by(client, "before") <= {("1", 1), ("2", 1)}

        promoted = client.post("/api/deployments/fraud/promote", json={"reason": "v2 is fine"})
        assert promoted.status_code == 200, promoted.text
        moved = promoted.json()
        assert moved["revision"]["revision"] == 2 and moved["deployment"]["rollout_status"] == "promoted"
        assert moved["revision"]["spec"]["variants"]["stable"] == {"model": "fraud/2", "role": "primary"}
        # The very next requests: the new revision, with no poll in between.
        assert served_by(client, "promoted") == {("2", 2)}

        back = client.post("/api/deployments/fraud/rollback", json={"to_revision": 1, "reason": "undo"})
        assert back.status_code == 200, back.text
        assert back.json()["revision"]["revision"] == 3
        assert {revision for _, revision in served_by(client, "rolled-back")} == {3}
        again = client.post("/api/deployments/fraud/rollback", json={})
        assert again.status_code == 200 and again.json()["revision"]["revision"] == 4

        paused = client.post("/api/deployments/fraud/pause", json={"reason": "incident"})
        assert paused.status_code == 200 and paused.json()["state"] == "paused"
        assert client.get("/api/deployments/fraud/status").json()["state"] == "paused"
        # An empty body is no reason (the media type is still JSON: the edge checks it).
        resumed = client.post(
            "/api/deployments/fraud/resume", content=b"", headers={"content-type": "application/json"}
        )
        assert resumed.status_code == 200 and resumed.json()["state"] == "active"

        entries = client.get("/api/audit", params={"resource": "deployment:fraud"}).json()["entries"]
        moves = [e for e in entries if e["action"] != "deployment.apply"]
        assert [e["action"] for e in moves] == [
            "deployment.promote",
            "deployment.rollback",
            "deployment.rollback",
            "deployment.pause",
            "deployment.resume",
        ]
        assert {e["source"] for e in moves} == {"127.0.0.1"} and all(e["actor"].startswith("key:") for e in moves)
        assert [e["reason"] for e in moves[:2]] == ["v2 is fine", "undo"]

        for path, body, code in (
            ("/api/deployments/fraud/promote", {"variant": "nope"}, 400),
            ("/api/deployments/fraud/promote", {"variant": "stable"}, 400),
            ("/api/deployments/ranker/promote", {}, 400),
            ("/api/deployments/fraud/rollback", {"to_revision": 99}, 404),
            ("/api/deployments/nope/promote", {}, 404),
            ("/api/deployments/nope/pause", {}, 404),
        ):
            response = client.post(path, json=body)
            assert response.status_code == code, (path, body, response.text)
            assert set(response.json()) >= {"error", "code"}
        assert client.get("/api/deployments/fraud").json()["current_revision"] == 4


BAD_BODIES: list[tuple[str, Any]] = [
    ("promote", {"variant": "candidate", "extra": 1}),
    ("promote", {"variant": 3}),
    ("promote", {"reason": ["x"]}),
    ("promote", [1, 2]),
    ("rollback", {"to_revision": "1"}),
    ("rollback", {"to_revision": 0}),
    ("rollback", {"to_revision": True}),
    ("rollback", {"to": 1}),
    ("pause", {"reason": 5}),
    ("pause", {"why": "x"}),
    ("resume", {"reason": "x" * 5000}),
    ("outcomes", {}),
    ("outcomes", {"request_id": "r", "metric": "conversion"}),
    ("outcomes", {"request_id": "r", "metric": "conversion", "value": "1"}),
    ("outcomes", {"request_id": "r", "metric": "conversion", "value": None}),
    ("outcomes", {"request_id": 5, "metric": "conversion", "value": 1}),
    ("outcomes", {"request_id": "r", "metric": "bad metric", "value": 1}),
    ("outcomes", {"request_id": "r", "metric": "conversion", "value": 1, "extra": 0}),
    ("outcomes", {"outcomes": []}),
    ("outcomes", {"outcomes": "x"}),
    ("outcomes", {"outcomes": [{"request_id": "r", "metric": "conversion", "value": "x"}]}),
    ("outcomes", {"outcomes": [{"request_id": "r", "metric": "conversion", "value": 1}] * 1001}),
]


@pytest.mark.parametrize(("action", "body"), BAD_BODIES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(BAD_BODIES)])
def test_malformed_bodies_are_400(server: LiveServer, action: str, body: Any) -> None:
    name = "ranker" if action == "outcomes" else "fraud"
    url = f"/api/deployments/{name}/{action}"
    with server.client(timeout=30) as client:
        before = client.get(f"/api/deployments/{name}").json()
        response = client.post(url, json=body)
        assert response.status_code == 400, response.text
        assert set(response.json()) >= {"error", "code"}
        assert client.post(url, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
        assert client.post(url, content=b"reason=x", headers={"content-type": "text/plain"}).status_code == 415
        assert client.get(f"/api/deployments/{name}").json() == before


def test_scopes_on_the_deployment_name(server: LiveServer) -> None:
    url = server.url + "/api/deployments/ranker"
    viewer = bearer(server, "viewer")
    assert httpx.get(url + "/status", headers=viewer).status_code == 200
    assert httpx.get(url + "/experiment-report", headers=viewer).status_code == 200
    assert httpx.get(url + "/shadow-report", headers=viewer).status_code == 200
    for action in ("promote", "rollback", "pause", "resume"):
        assert httpx.post(f"{url}/{action}", json={}, headers=viewer).status_code == 403
    outcome = {"request_id": "never-seen", "metric": "conversion", "value": 1}
    assert httpx.post(url + "/outcomes", json=outcome, headers=viewer).status_code == 403

    other = bearer(server, "deployer", ("fraud",))
    assert httpx.get(url + "/status", headers=other).status_code == 403
    assert httpx.post(url + "/pause", json={}, headers=other).status_code == 403
    assert httpx.post(url + "/outcomes", json=outcome, headers=other).status_code == 403

    predictor = bearer(server, "predictor", ("ranker",))
    assert httpx.post(url + "/outcomes", json=outcome, headers=predictor).status_code == 404
    assert httpx.post(url + "/pause", json={}, headers=predictor).status_code == 403
    assert httpx.post(server.url + "/api/deployments/fraud/outcomes", json=outcome, headers=predictor).status_code == (
        403
    )
    deployer = bearer(server, "deployer", ("ranker",))
    paused = httpx.post(url + "/pause", json={"reason": "scoped"}, headers=deployer)
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert httpx.post(url + "/resume", json={}, headers=deployer).json()["state"] == "active"
    assert httpx.post(url + "/outcomes", json=outcome, headers=deployer).status_code == 403


# -- outcomes and the experiment report ---------------------------------------------------------
def wait_recorded(client: httpx.Client, request_id: str, value: float) -> httpx.Response:
    """Post an outcome for ``request_id`` until its assignment is written (at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        response = client.post(
            "/api/deployments/ranker/outcomes", json={"request_id": request_id, "metric": "conversion", "value": value}
        )
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_outcomes_of_real_requests_feed_the_experiment_report(server: LiveServer) -> None:
    with server.client(timeout=30) as client:
        arms: dict[str, str] = {}
        for i in range(24):
            response = infer(client, "ranker", f"exp-{i}", **{"X-User-Id": f"user-{i}"})
            arms[f"exp-{i}"] = response.headers["x-shipyard-variant"]
        assert set(arms.values()) == {"a", "b"}

        unknown = client.post(
            "/api/deployments/ranker/outcomes", json={"request_id": "exp-none", "metric": "conversion", "value": 1}
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"

        first = wait_recorded(client, "exp-0", 1)
        assert first.status_code == 201, first.text
        assert first.json() == {
            "deployment": "ranker",
            "request_id": "exp-0",
            "metric": "conversion",
            "value": 1.0,
            "variant": arms["exp-0"],
            "created": True,
        }
        same = client.post(
            "/api/deployments/ranker/outcomes", json={"request_id": "exp-0", "metric": "conversion", "value": 1.0}
        )
        assert same.status_code == 200 and same.json()["created"] is False
        conflict = client.post(
            "/api/deployments/ranker/outcomes", json={"request_id": "exp-0", "metric": "conversion", "value": 0}
        )
        assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"

        # Wait for every assignment, then send the rest as one batch (with a repeat, a
        # conflict and an unknown id, each answered on its own).
        assert wait_recorded(client, "exp-23", 0).status_code == 201
        batch = [{"request_id": f"exp-{i}", "metric": "conversion", "value": i % 2} for i in range(1, 23)]
        batch += [
            {"request_id": "exp-0", "metric": "conversion", "value": 1},
            {"request_id": "exp-23", "metric": "conversion", "value": 1},
            {"request_id": "exp-none", "metric": "conversion", "value": 1},
        ]
        answer = client.post("/api/deployments/ranker/outcomes", json={"outcomes": batch})
        assert answer.status_code == 201, answer.text
        summary = answer.json()
        assert (summary["created"], summary["existing"], summary["failed"]) == (22, 1, 2)
        assert [r["status"] for r in summary["results"][-3:]] == [200, 409, 404]
        repeat = client.post("/api/deployments/ranker/outcomes", json={"outcomes": batch[:3]})
        assert repeat.status_code == 200 and repeat.json()["existing"] == 3

        report = client.get("/api/deployments/ranker/experiment-report")
        assert report.status_code == 200, report.text
        found = report.json()
        per_arm = Counter(arms.values())
        converted = Counter(arms[f"exp-{i}"] for i in range(24) if i == 0 or (i < 23 and i % 2))
        assert {a["name"]: a["units"] for a in found["arms"]} == dict(per_arm)
        assert {a["name"]: a["outcomes"] for a in found["arms"]} == dict(per_arm)
        rates = {a["name"]: a["value"] for a in found["arms"]}
        assert rates == {arm: pytest.approx(converted[arm] / per_arm[arm]) for arm in per_arm}
        assert found["kind"] == "rate" and found["decision"] == "keep_running"
        assert found["comparisons"][0]["valid_for_decision"] is False
