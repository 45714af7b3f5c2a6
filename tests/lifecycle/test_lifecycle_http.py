"""Lifecycle against a real server: deprecation headers on all three protocols (a change made
elsewhere is picked up within one poll), 410 naming the successor, and the management API
with every refusal's status and code."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lifecycle_support import register_fraud

from homes import open_home
from live_server import LiveServer, create_key
from shipyard.errors import RemoteError
from shipyard.sdk.client import Client

ROW = [0.5, -1.0, 0.25, 2.0]
V2_BODY = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
SETTINGS = {"alias_poll_seconds": "0.2"}
LINK_4 = '</v2/models/fraud/versions/4>; rel="successor-version"'


def calls(client: httpx.Client) -> dict[str, Callable[[], httpx.Response]]:
    """The same inference in every protocol (MLflow both by name and as the first model)."""
    return {
        "v2": lambda: client.post("/v2/models/fraud/infer", json=V2_BODY),
        "v2 version": lambda: client.post("/v2/models/fraud/versions/3/infer", json=V2_BODY),
        "v1": lambda: client.post("/v1/models/fraud:predict", json={"instances": [ROW]}),
        "mlflow": lambda: client.post("/models/fraud/invocations", json={"inputs": [ROW]}),
        "mlflow default": lambda: client.post("/invocations", json={"inputs": [ROW]}),
    }


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the server did not pick up the change in time"
        time.sleep(0.05)


def test_headers_then_410_on_every_protocol(tmp_path: Path) -> None:
    home = tmp_path / "home"
    register_fraud(home)
    with LiveServer(home, ["fraud/3"], settings=SETTINGS) as server, server.client(timeout=30) as client:
        for protocol, call in calls(client).items():
            response = call()
            assert response.status_code == 200, (protocol, response.text)
            assert "deprecation" not in response.headers and "sunset" not in response.headers

        # Deprecated elsewhere (another process, straight in the registry): seen after a poll.
        services = open_home(home)
        try:
            record = services.store.lifecycle.deprecate(
                "fraud", 3, sunset_at=datetime_2099(), successor="fraud/4", reason="v4 is calibrated"
            )
        finally:
            services.close()
        assert record.deprecated_at is not None
        wait_for(lambda: "deprecation" in calls(client)["v2"]().headers)
        expected = {
            "deprecation": f"@{int(record.deprecated_at.timestamp())}",
            "sunset": "Sun, 01 Mar 2099 00:00:00 GMT",
            "link": LINK_4,
        }
        for protocol, call in calls(client).items():
            response = call()
            assert response.status_code == 200, (protocol, response.text)
            assert {k: response.headers.get(k) for k in expected} == expected, protocol
        for path in ("/v2/models/fraud", "/v2/models/fraud/versions/3", "/v1/models/fraud"):
            assert client.get(path).headers.get("deprecation") == expected["deprecation"], path

        # A retired version that is not served answers 410 (not 404); an unknown one still 404.
        retired = client.post("/api/models/fraud/versions/2/retire", json={"successor": "fraud@production"})
        assert retired.status_code == 200, retired.text
        gone = client.post("/v2/models/fraud/versions/2/infer", json=V2_BODY)
        assert gone.status_code == 410
        assert gone.json() == {"error": "fraud/2 is retired; use fraud@production", "code": "retired",
                               "successor": "fraud@production"}  # fmt: skip
        assert client.post("/v2/models/fraud/versions/9/infer", json=V2_BODY).status_code == 404

        # Retired through this server's API: answers 410 at once, on every protocol.
        assert client.post("/api/models/fraud/versions/3/retire", json={}).status_code == 200
        for protocol, call in calls(client).items():
            response = call()
            assert response.status_code == 410, (protocol, response.text)
            body = response.json()
            if protocol.startswith("mlflow"):
                # MLflow's own error form, beside ours.
                assert body.pop("error_code") and body.pop("message") == "fraud/3 is retired; use fraud/4"
            assert body == {"error": "fraud/3 is retired; use fraud/4", "code": "retired",
                            "successor": "fraud/4"}, protocol  # fmt: skip

        # Reinstated: answers again, without the headers.
        assert client.post("/api/models/fraud/versions/3/reinstate", json={"reason": "oops"}).status_code == 200
        response = calls(client)["v1"]()
        assert response.status_code == 200 and "deprecation" not in response.headers

        # Retired elsewhere while served: 410 from the next poll on.
        services = open_home(home)
        try:
            services.store.lifecycle.retire("fraud", 3, successor="fraud/4")
        finally:
            services.close()
        wait_for(lambda: calls(client)["mlflow default"]().status_code == 410)
        assert server.proc is not None and server.proc.poll() is None


def datetime_2099() -> object:
    from datetime import UTC, datetime

    return datetime(2099, 3, 1, tzinfo=UTC)


REFUSALS = [
    # (path, body or raw bytes, content type, status, code, message part)
    (
        "/api/models/fraud/versions/1/deprecate",
        {"sunset_at": "2001-01-01"},
        None,
        400,
        "invalid_request",
        "in the past",
    ),
    ("/api/models/fraud/versions/1/deprecate", {"sunset_at": "soon"}, None, 400, "invalid_request", "not a date"),
    ("/api/models/fraud/versions/1/deprecate", {"successor": "fraud/1"}, None, 400, "invalid_request", "own successor"),
    (
        "/api/models/fraud/versions/1/deprecate",
        {"successor": "fraud/99"},
        None,
        400,
        "invalid_request",
        "no version 99",
    ),
    ("/api/models/fraud/versions/1/deprecate", {"successor": "ghost@prod"}, None, 400, "invalid_request", "no model"),
    ("/api/models/fraud/versions/1/deprecate", {"successor": "a/../b"}, None, 400, "invalid_name", "invalid"),
    ("/api/models/fraud/versions/1/deprecate", {"successor": 5}, None, 400, "invalid_request", "must be a string"),
    ("/api/models/fraud/versions/1/deprecate", {"sunset": "2099-01-01"}, None, 400, "malformed_request", "unexpected"),
    ("/api/models/fraud/versions/1/deprecate", b"{not json", "application/json", 400, "malformed_request", "JSON"),
    ("/api/models/fraud/versions/1/deprecate", b"[]", "application/json", 400, "malformed_request", "object"),
    ("/api/models/fraud/versions/1/deprecate", b"{}", "text/plain", 415, "unsupported_media_type", "application/json"),
    ("/api/models/fraud/versions/99/deprecate", {}, None, 404, "version_not_found", "no version 99"),
    ("/api/models/ghost/versions/1/retire", {}, None, 404, "model_not_found", "ghost"),
    ("/api/models/fraud/versions/4/retire", {}, None, 409, "conflict", "fraud@production points at it"),
    ("/api/models/fraud/versions/1/retire", {"archive": "yes"}, None, 400, "invalid_request", "true or false"),
    ("/api/models/fraud/versions/3/archive", {}, None, 409, "conflict", "only a retired version"),
    ("/api/models/fraud/versions/3/restore", {}, None, 409, "conflict", "not archived"),
    ("/api/models/fraud/versions/3/reinstate", {}, None, 409, "conflict", "active already"),
]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> object:
    home = tmp_path_factory.mktemp("lifecycle-api")
    register_fraud(home)
    with LiveServer(home, ["fraud@production"], settings=SETTINGS) as server:
        yield server


def test_every_refusal_has_its_status_and_code(api_server: LiveServer) -> None:
    with api_server.client(timeout=30) as client:
        for path, body, content_type, status, code, part in REFUSALS:
            if isinstance(body, bytes):
                response = client.post(path, content=body, headers={"Content-Type": content_type or ""})
            else:
                response = client.post(path, json=body)
            assert (response.status_code, response.json()["code"]) == (status, code), (path, body, response.text)
            assert part in response.json()["error"], (path, body, response.text)
        # Nothing above changed anything.
        assert {
            v["lifecycle"] for v in [client.get(f"/api/models/fraud/versions/{n}").json() for n in (1, 2, 3, 4)]
        } == {"active"}
        # A key without the alias-write scope may not; one with it (deployer) may.
        predictor = {"Authorization": f"Bearer {create_key(api_server.home, 'predictor')}"}
        response = httpx.post(api_server.url + "/api/models/fraud/versions/1/deprecate", json={}, headers=predictor)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        deployer = {"Authorization": f"Bearer {create_key(api_server.home, 'deployer', ['fraud'])}"}
        response = httpx.post(api_server.url + "/api/models/fraud/versions/1/deprecate", json={}, headers=deployer)
        assert response.status_code == 200 and response.json()["lifecycle"] == "deprecated"
        assert client.post("/api/models/fraud/versions/1/reinstate", json={}).status_code == 200


def test_lifecycle_through_the_sdk_with_archive_and_audit(api_server: LiveServer) -> None:
    assert api_server.api_key is not None
    with Client(api_server.url, api_key=api_server.api_key) as sdk:
        record = sdk.deprecate("fraud", 2, sunset_at="2099-03-01", successor="fraud/4", reason="old features")
        assert record["lifecycle"] == "deprecated" and record["sunset_at"] == "2099-03-01T00:00:00+00:00"
        record = sdk.retire("fraud", 2, archive=True, reason="cleanup")
        assert record["lifecycle"] == "retired" and record["archived_at"] is not None
        assert record["successor"] == "fraud/4"
        with pytest.raises(RemoteError) as alias:
            sdk.set_alias("fraud", "canary", 2)
        assert alias.value.status == 409 and "successor fraud/4" in alias.value.message
        with pytest.raises(RemoteError) as archived:
            sdk.reinstate("fraud", 2)
        assert archived.value.status == 409 and archived.value.hint == "shipyard models restore fraud/2"
        download = httpx.get(api_server.url + "/api/models/fraud/versions/2/artifact", headers=api_server.auth_headers)
        assert download.status_code == 409
        assert sdk.restore("fraud", 2)["archived_at"] is None
        assert sdk.reinstate("fraud", 2, reason="needed after all")["lifecycle"] == "active"
        detail = sdk.model("fraud")
        assert detail["name"] == "fraud"
    with api_server.client(timeout=30) as client:
        entries = client.get("/api/audit", params={"resource": "fraud/2", "limit": 100}).json()["entries"]
        lifecycle = [e for e in entries if e["action"] != "version.register"]
        assert [e["action"] for e in lifecycle] == [
            "version.deprecate", "version.retire", "version.archive", "version.restore", "version.reinstate",
        ]  # fmt: skip
        assert {e["source"] for e in lifecycle} == {"127.0.0.1"}
        assert all(e["actor"].startswith("key:") for e in lifecycle)
        assert lifecycle[1]["reason"] == "cleanup" and lifecycle[1]["details"]["successor"] == "fraud/4"
        assert client.get("/api/audit/verify").json()["ok"] is True
        spec = client.get("/openapi.json").json()
        assert "/api/models/{name}/versions/{version}/retire" in spec["paths"]
        assert "410" in spec["paths"]["/v2/models/{name}/infer"]["post"]["responses"]
