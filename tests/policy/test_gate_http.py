"""The gates and approvals over HTTP against a real server: for each tier the alias gate
(``PUT /api/models/{name}/aliases/production``) and the deployment gate (``PUT
/api/deployments/{name}``); separation of duties (an admin key that registered a version
cannot approve it); one key's two approvals counting once; scopes; emergency rollback and
flags; the policy and tiers; every bad input a 4xx ``{"error", "code"}``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from policy_support import Live, complete_high_in, frame, skops_file, spec


def body_of(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    if code is not None:
        assert body["code"] == code and isinstance(body["error"], str), body
    return body


def ask(live: Live, name: str, version: int, who: str = "deployer") -> int:
    with live.http(who) as http:
        body = body_of(http.post(f"/api/models/{name}/versions/{version}/approvals", json={"comment": "ship it"}), 201)
    assert body["status"] == "pending" and body["requested_by"].startswith("key:")  # type: ignore[union-attr]
    return int(body["id"])  # type: ignore[call-overload]


def vote(live: Live, number: int, who: str, decision: str = "approve") -> httpx.Response:
    with live.http(who) as http:
        return http.post(f"/api/approvals/{number}/{decision}", json={"comment": "seen"})


def upload(live: Live, tmp_path: Path, name: str, who: str = "admin", **metadata: object) -> int:
    x, _ = frame()
    files = {
        "artifact": ("model.skops", skops_file(tmp_path).read_bytes(), "application/octet-stream"),
        "sample": ("sample.json", json.dumps({"columns": list(x.columns), "data": x.iloc[:3].values.tolist()}),
                   "application/json"),
        "metadata": ("metadata.json", json.dumps(metadata), "application/json"),
    }  # fmt: skip
    with live.http(who) as http:
        return int(body_of(http.post(f"/api/models/{name}/versions", files=files), 201)["version"])  # type: ignore[call-overload]


def test_alias_gate_per_tier(live: Live, tmp_path: Path) -> None:
    with live.http("deployer") as http:
        assert http.put("/api/models/low/aliases/production", json={"version": 1}).status_code == 200
        body = body_of(http.put("/api/models/mid/aliases/production", json={"version": 1}), 409, "policy_refused")
        assert body["error"] == "mid/1 (tier limited) cannot take mid@production: missing: 1 more approval (has 0 of 1)"
    number = ask(live, "mid", 1)
    assert body_of(vote(live, number, "approver"), 200)["status"] == "approved"
    body_of(vote(live, number, "approver"), 409, "conflict")  # one vote per approver
    with live.http("deployer") as http:
        assert http.put("/api/models/mid/aliases/production", json={"version": 1}).status_code == 200
        refusal = body_of(http.put("/api/models/top/aliases/production", json={"version": 1}), 409, "policy_refused")
    assert "2 more approvals (has 0 of 2); model card fields" in str(refusal["error"])
    # An admin key registers top/3: it may not approve it (separation of duties, admins included).
    version = upload(live, tmp_path, "top")
    complete_high_in(live.home, "top", version)
    number = ask(live, "top", version)
    sod = body_of(vote(live, number, "admin"), 403, "separation_of_duties")
    assert "may not approve it" in str(sod["error"])
    body_of(vote(live, number, "approver"), 200)
    with live.http() as http:
        status = body_of(http.get(f"/api/models/top/versions/{version}/approvals"), 200)
        assert status["missing"] == ["1 more approval (has 1 of 2)"] and status["tier"] == "high"
        body_of(http.put("/api/models/top/aliases/production", json={"version": version}), 409, "policy_refused")
    # Another admin is not the registrant: its approval counts.
    assert body_of(vote(live, number, "admin2"), 200)["status"] == "approved"
    with live.http("deployer") as http:
        assert http.put("/api/models/top/aliases/production", json={"version": version}).status_code == 200
    with live.http("viewer") as http:
        assert body_of(http.get(f"/api/models/top/versions/{version}/approvals"), 200)["allowed"] is True
        assert body_of(http.get("/api/models/top"), 200)["risk_tier"] == "high"


def test_one_key_counts_once(live: Live) -> None:
    complete_high_in(live.home, "top", 2)
    first, second = ask(live, "top", 2), ask(live, "top", 2)
    body_of(vote(live, first, "approver"), 200)
    body_of(vote(live, second, "approver"), 200)  # the same key on another request
    with live.http() as http:
        status = body_of(http.get("/api/models/top/versions/2/approvals"), 200)
    assert len(status["approvers"]) == 1 and status["missing"] == ["1 more approval (has 1 of 2)"]  # type: ignore[arg-type]


def test_deployment_gate_per_tier(live: Live) -> None:
    def apply(name: str, text: str) -> httpx.Response:
        with live.http("deployer") as http:
            return http.put(f"/api/deployments/{name}", json={"spec": text})

    assert apply("h-low", spec("h-low", "low/1", "low/2", weight=30)).status_code == 200
    assert apply("h-shadow", spec("h-shadow", "low/1", shadow="top/1")).status_code == 200
    body = body_of(apply("h-mid", spec("h-mid", "low/1", "mid/2", weight=5)), 409, "policy_refused")
    assert str(body["error"]).startswith("variant cand: mid/2 (tier limited) cannot take deployment 'h-mid'")
    body_of(vote(live, ask(live, "mid", 2), "approver2"), 200)
    assert apply("h-mid", spec("h-mid", "low/1", "mid/2", weight=5)).status_code == 200
    body = body_of(apply("h-top", spec("h-top", "top/1")), 409, "policy_refused")
    assert "variant stable: top/1 (tier high)" in str(body["error"])
    body_of(apply("h-latest", spec("h-latest", "mid")), 409, "policy_refused")
    with live.http("deployer") as http:
        assert http.get("/api/deployments/h-top").status_code == 404  # nothing stored


def test_emergency_rollback_and_flags(live: Live) -> None:
    with live.http("deployer") as http:
        http.put("/api/models/low/aliases/canary", json={"version": 1})
        http.put("/api/models/low/aliases/canary", json={"version": 2})
        done = body_of(http.post("/api/models/low/aliases/canary/rollback", json={"reason": "errors"}), 200)
        assert done["version"] == 1 and done["previous"] == 2 and done["emergency"] is True
        flags = body_of(http.get("/api/governance/flags"), 200)["flags"]
        mine = [f for f in flags if f["id"] == done["flag"]]  # type: ignore[union-attr,index]
        assert mine and mine[0]["target"] == "low@canary" and mine[0]["actor"].startswith("key:")
        body_of(http.post(f"/api/governance/flags/{done['flag']}/clear", json={"note": "ok"}), 403, "forbidden")
        body_of(http.post("/api/models/low/aliases/nowhere/rollback", json={}), 400, "invalid_request")
        body_of(http.post("/api/models/low/aliases/canary/rollback", json={"to_version": 1}), 400)
    with live.http() as http:
        cleared = body_of(http.post(f"/api/governance/flags/{done['flag']}/clear", json={"note": "reviewed"}), 200)
        assert cleared["open"] is False and cleared["note"] == "reviewed"
        body_of(http.post(f"/api/governance/flags/{done['flag']}/clear", json={"note": "again"}), 409, "conflict")
        assert done["flag"] in [f["id"] for f in http.get("/api/governance/flags?all=true").json()["flags"]]
        entries = http.get("/api/audit", params={"action": "alias.rollback"}).json()["entries"]
        assert entries[-1]["details"]["emergency"] is True and entries[-1]["reason"] == "errors"


def test_policy_and_tiers(live: Live) -> None:
    with live.http("viewer") as http:
        shown = body_of(http.get("/api/policy"), 200)
        assert shown["revision"] == 0 and shown["policy"]["default_tier"] == "minimal"  # type: ignore[index]
        body_of(http.put("/api/policy", json={"text": "default_tier: high\n"}), 403, "forbidden")
        body_of(http.put("/api/models/low/tier", json={"tier": "high"}), 403, "forbidden")
    with live.http("approver") as http:
        body_of(http.put("/api/policy", json={"text": "default_tier: high\n"}), 403, "forbidden")
    with live.http() as http:
        body_of(http.put("/api/policy", json={"text": "default_tier: extreme\n"}), 400, "invalid_request")
        stored = body_of(http.put("/api/policy", json={"text": "approval_expiry_days: 30\n", "reason": "r"}), 200)
        assert stored["revision"] == 1 and stored["actor"].startswith("key:")  # type: ignore[union-attr]
        history = body_of(http.get("/api/policy/history"), 200)["revisions"]
        assert [r["revision"] for r in history] == [1, 0]  # type: ignore[union-attr]
        model = body_of(http.put("/api/models/low/tier", json={"tier": "limited", "reason": "reassessed"}), 200)
        assert model["risk_tier"] == "limited" and model["tier_set"] is True
        body_of(http.put("/api/models/low/tier", json={"tier": "none"}), 400, "invalid_request")
        body_of(http.put("/api/models/ghost/tier", json={"tier": "high"}), 404, "model_not_found")
        http.put("/api/models/low/tier", json={"tier": "minimal"})


def test_registration_options(live: Live, tmp_path: Path) -> None:
    version = upload(live, tmp_path, "fresh", who="publisher", tier="high", pii={"email": "hash"})
    with live.http() as http:
        assert http.get("/api/models/fresh").json()["risk_tier"] == "high"
    again = {"tier": "minimal"}
    x, _ = frame()
    files = {
        "artifact": ("model.skops", skops_file(tmp_path).read_bytes(), "application/octet-stream"),
        "sample": ("s.json", json.dumps({"columns": list(x.columns), "data": x.iloc[:3].values.tolist()}),
                   "application/json"),
    }  # fmt: skip
    with live.http("publisher") as http:
        for meta, status, code in (
            (again, 403, "forbidden"),
            ({"tier": "extreme"}, 400, "invalid_request"),
            ({"pii": ["email"]}, 400, "invalid_request"),
            ({"pii": {"phone": "hash"}}, 400, "invalid_request"),
            ({"pii": {"email": "keep"}}, 403, "forbidden"),
        ):
            sent = {**files, "metadata": ("m.json", json.dumps(meta), "application/json")}
            body_of(http.post("/api/models/fresh/versions", files=sent), status, code)
    with live.http() as http:
        assert [v["version"] for v in http.get("/api/models/fresh").json()["versions"]] == [version]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/models/mid/versions/1/approvals", {}, 400),
        ("POST", "/api/models/mid/versions/1/approvals", {"comment": ""}, 400),
        ("POST", "/api/models/mid/versions/1/approvals", {"comment": 3}, 400),
        ("POST", "/api/models/mid/versions/1/approvals", {"comment": "x", "expires_in_days": 0}, 400),
        ("POST", "/api/models/mid/versions/1/approvals", {"comment": "x", "expires_in_days": "1"}, 400),
        ("POST", "/api/models/mid/versions/1/approvals", {"comment": "x", "other": 1}, 400),
        ("POST", "/api/models/mid/versions/9/approvals", {"comment": "x"}, 404),
        ("POST", "/api/models/ghost/versions/1/approvals", {"comment": "x"}, 404),
        ("GET", "/api/models/mid/versions/1/approvals?alias=9", None, 400),
        ("GET", "/api/models/mid/versions/1/approvals?alias=a&deployment=b", None, 400),
        ("GET", "/api/approvals?status=maybe", None, 400),
        ("GET", "/api/approvals?version=1", None, 400),
        ("GET", "/api/approvals?limit=0", None, 400),
        ("GET", "/api/approvals?colour=red", None, 400),
        ("GET", "/api/approvals/abc", None, 400),
        ("GET", "/api/approvals/99999", None, 404),
        ("POST", "/api/approvals/99999/approve", {}, 404),
        ("POST", "/api/approvals/0/reject", {}, 400),
        ("POST", "/api/approvals/1/approve", {"comment": ["x"]}, 400),
        ("POST", "/api/approvals/1/approve", {"vote": "yes"}, 400),
        ("PUT", "/api/policy", {}, 400),
        ("PUT", "/api/policy", {"text": 5}, 400),
        ("PUT", "/api/policy", {"text": "tiers: ["}, 400),
        ("GET", "/api/policy/history?limit=abc", None, 400),
        ("GET", "/api/governance/flags?all=maybe", None, 400),
        ("POST", "/api/governance/flags/99999/clear", {"note": "x"}, 404),
        ("POST", "/api/governance/flags/1/clear", {"note": ""}, 400),
        ("POST", "/api/governance/flags/1/clear", {}, 400),
        ("PUT", "/api/models/low/tier", {}, 400),
        ("POST", "/api/models/low/aliases/production/rollback", {"to_version": 0}, 400),
        ("POST", "/api/models/low/aliases/production/rollback", {"to_version": 99}, 404),
        ("POST", "/api/models/low/aliases/production/rollback", {"why": "x"}, 400),
    ],
)
def test_bad_inputs(live: Live, method: str, path: str, body: object, status: int) -> None:
    with live.http() as http:
        response = http.request(method, path, json=body) if body is not None else http.request(method, path)
    got = body_of(response, status)
    assert set(got) >= {"error", "code"}


def test_malformed_bodies(live: Live) -> None:
    with live.http() as http:
        for path in ("/api/policy", "/api/models/low/tier"):
            response = http.put(path, content=b"{not json", headers={"content-type": "application/json"})
            body_of(response, 400, "malformed_request")
            body_of(http.put(path, content=b"[1]", headers={"content-type": "application/json"}), 400)
            assert http.put(path, content=b"x", headers={"content-type": "text/plain"}).status_code == 415


def test_scopes(live: Live) -> None:
    number = ask(live, "low", 2, who="publisher")
    with live.http("viewer") as http:
        body_of(http.post(f"/api/approvals/{number}/approve", json={}), 403, "forbidden")
        body_of(http.post("/api/models/low/versions/2/approvals", json={"comment": "x"}), 403, "forbidden")
        assert http.get(f"/api/approvals/{number}").status_code == 200
        assert any(a["id"] == number for a in http.get("/api/approvals", params={"model": "low"}).json()["approvals"])
    with live.http("reviewer") as http:
        body_of(http.post(f"/api/approvals/{number}/reject", json={}), 403, "forbidden")
    assert body_of(vote(live, number, "approver", "reject"), 200)["status"] == "rejected"
    body_of(vote(live, number, "approver2"), 409, "conflict")  # closed
