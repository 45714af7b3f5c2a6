"""The deployments management API against a real server: apply, read, history, delete;
scopes on the deployment's name; bad specs refused (400) with nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from deployment_support import build_examples

from deployment_specs import FRAUD_SPEC, RANKER_SPEC
from live_server import LiveServer, create_key


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("deploy-http")
    build_examples(home)
    with LiveServer(home, ["fraud@production", "ranker"]) as srv:
        yield srv


def test_apply_read_history_delete(server: LiveServer) -> None:
    with server.client(timeout=30) as client:
        put = client.put("/api/deployments/fraud", json={"spec": FRAUD_SPEC, "reason": "canary v4"})
        assert put.status_code == 200, put.text
        applied = put.json()
        assert applied["changed"] is True and applied["revision"]["revision"] == 1
        assert applied["revision"]["source"] == "127.0.0.1" and applied["revision"]["created_by"].startswith("key:")
        assert applied["revision"]["spec_yaml"] == FRAUD_SPEC and applied["revision"]["reason"] == "canary v4"
        again = client.put("/api/deployments/fraud", json={"spec": FRAUD_SPEC})
        assert again.status_code == 200 and again.json()["changed"] is False
        changed = client.put("/api/deployments/fraud", json={"spec": FRAUD_SPEC.replace("weight: 10", "weight: 20")})
        assert changed.json()["revision"]["revision"] == 2

        assert [d["name"] for d in client.get("/api/deployments").json()["deployments"]] == ["fraud"]
        detail = client.get("/api/deployments/fraud").json()
        assert detail["current_revision"] == 2 and detail["revision"]["spec"]["variants"]["candidate"]["weight"] == 20
        revisions = client.get("/api/deployments/fraud/revisions").json()["revisions"]
        assert [r["revision"] for r in revisions] == [1, 2]
        first = client.get("/api/deployments/fraud/revisions/1").json()
        assert first["spec"]["variants"]["candidate"]["weight"] == 10
        assert client.get("/api/deployments/fraud/revisions/9").status_code == 404
        assert client.get("/api/deployments/fraud/revisions/x").status_code == 404
        assert client.get("/api/deployments/nope").status_code == 404

        deleted = client.delete("/api/deployments/fraud")
        assert deleted.status_code == 200 and deleted.json()["state"] == "deleted"
        assert client.delete("/api/deployments/fraud").status_code == 404
        assert client.get("/api/deployments").json()["deployments"] == []
        assert len(client.get("/api/deployments/fraud/revisions").json()["revisions"]) == 2
        entries = client.get("/api/audit", params={"resource": "deployment:fraud"}).json()["entries"]
        assert [e["action"] for e in entries] == ["deployment.apply"] * 2 + ["deployment.delete"]
        assert {e["source"] for e in entries} == {"127.0.0.1"}
        assert client.get("/api/audit/verify").json()["ok"] is True


BAD = {
    "name differs from the path": ("ranker", FRAUD_SPEC, "not 'ranker'"),
    "unknown model": ("fraud", FRAUD_SPEC.replace("fraud/5", "nosuch/1"), "nosuch"),
    "incompatible": ("fraud", FRAUD_SPEC.replace("fraud/5", "other/1"), "differ in columns"),
    "not a mapping": ("fraud", "[1, 2]", "mapping"),
    "unknown role": ("fraud", FRAUD_SPEC.replace("role: shadow", "role: ghost"), "line 5"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_specs_are_400_and_store_nothing(server: LiveServer, case: str) -> None:
    name, text, words = BAD[case]
    with server.client(timeout=30) as client:
        before = client.get(f"/api/deployments/{name}/revisions")
        response = client.put(f"/api/deployments/{name}", json={"spec": text})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_spec" and words in response.json()["error"]
        assert client.get(f"/api/deployments/{name}/revisions").json() == before.json()


@pytest.mark.parametrize(
    "body", [{"spec": 3}, {"reason": "x"}, {"spec": RANKER_SPEC, "extra": 1}, {"spec": RANKER_SPEC, "reason": 5}]
)
def test_malformed_bodies_are_400(server: LiveServer, body: dict[str, object]) -> None:
    with server.client(timeout=30) as client:
        assert client.put("/api/deployments/ranker", json=body).status_code == 400
        bad_json = client.put(
            "/api/deployments/ranker", content=b"not json", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        assert client.put("/api/deployments/ranker", content=b"spec: x").status_code == 415


def test_writing_needs_deployments_write_on_the_name(server: LiveServer) -> None:
    viewer = {"Authorization": f"Bearer {create_key(server.home, 'viewer')}"}
    narrow = {"Authorization": f"Bearer {create_key(server.home, 'deployer', ('fraud*',))}"}
    url = server.url + "/api/deployments/ranker"
    assert httpx.put(url, json={"spec": RANKER_SPEC}, headers=viewer).status_code == 403
    assert httpx.put(url, json={"spec": RANKER_SPEC}, headers=narrow).status_code == 403
    assert httpx.delete(url, headers=viewer).status_code == 403
    assert httpx.get(url, headers=narrow).status_code == 403
    assert httpx.get(server.url + "/api/deployments", headers=viewer).status_code == 200
    with server.client(timeout=30) as client:
        assert client.get("/api/deployments/ranker").status_code == 404
    deployer = {"Authorization": f"Bearer {create_key(server.home, 'deployer', ('ranker',))}"}
    ok = httpx.put(url, json={"spec": RANKER_SPEC, "reason": "ab test"}, headers=deployer)
    assert ok.status_code == 200, ok.text
    listed = httpx.get(server.url + "/api/deployments", headers=narrow).json()["deployments"]
    assert all(d["name"] != "ranker" for d in listed)
    assert httpx.delete(url, headers=deployer).status_code == 200
