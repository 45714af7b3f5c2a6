"""Every route of the route table, checked at the edge: 401 without a key (or with a
revoked, expired or truncated one, or one in the query string), 403 with a key lacking the
scope, 403 across objects (a key for ``a*`` on model ``b1``), and through with the right
scope. Health, and only health, is open."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from security_support import Keys, bearer, body_for, build_home, path_for, role_with

from live_server import LiveServer
from shipyard.governance.scopes import ROLES
from shipyard.http.openapi import openapi_document
from shipyard.http.route_spec import OPEN, RouteSpec
from shipyard.http.routes import ROUTES, TABLE

CHECKED = [spec for spec in ROUTES if spec.scope != OPEN]
HEALTH = [spec for spec in ROUTES if spec.scope == OPEN]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("routes")
    build_home(home)
    return home


@pytest.fixture(scope="module")
def keys(home: Path) -> dict[str, str]:
    maker = Keys(home)
    tokens = {
        "revoked": maker.revoked(),
        "expired": maker.expired(),
        "no_scopes": maker.no_scopes(),
        "admin_a": maker.make("admin", ("a*",)),
    }
    for role in ROLES:
        tokens[f"{role}:*"] = maker.make(role, ("*",))
        tokens[f"{role}:a*"] = maker.make(role, ("a*",))
    tokens["truncated"] = tokens["admin:*"][:-5]
    return tokens


@pytest.fixture(scope="module")
def server(home: Path, keys: dict[str, str]) -> Iterator[LiveServer]:
    with LiveServer(home, ["a1", "b1"], settings={"key_cache_seconds": "0.5"}) as srv:
        yield srv


def call(
    server: LiveServer, spec: RouteSpec, *, model: str = "a1", token: str | None = None, query: str = ""
) -> httpx.Response:
    headers = bearer(token) if token is not None else {}
    url = server.url + path_for(spec, model) + query
    return httpx.request(spec.method, url, headers=headers, timeout=30, **body_for(spec))  # type: ignore[arg-type]


def test_the_table_is_the_router_and_the_document() -> None:
    assert {(s.method, s.path) for s in ROUTES} == {
        (method.upper(), path) for path, ops in openapi_document()["paths"].items() for method in ops
    }
    assert [r.path for r in TABLE.starlette_routes()] == [s.path for s in ROUTES]
    assert {s.path for s in HEALTH} == {"/", "/v2/health/live", "/v2/health/ready", "/ping", "/health"}
    # Matching agrees with the table for every route, with parameters filled in.
    for spec in ROUTES:
        matched = TABLE.match(spec.method, path_for(spec))
        assert matched is not None and matched[0] is spec, spec


@pytest.mark.parametrize("spec", HEALTH, ids=[s.operation_id for s in HEALTH])
def test_health_is_open(server: LiveServer, spec: RouteSpec) -> None:
    assert call(server, spec).status_code == 200
    assert call(server, spec, token="shp_garbage").status_code == 200


@pytest.mark.parametrize("spec", CHECKED, ids=[s.operation_id for s in CHECKED])
def test_every_route_checks_its_caller(server: LiveServer, keys: dict[str, str], spec: RouteSpec) -> None:
    # No key, and keys that do not work: 401, saying how to authenticate.
    for token in (None, keys["revoked"], keys["expired"], keys["truncated"], "shp_nonsense"):
        response = call(server, spec, token=token)
        assert response.status_code == 401, (token and token[:8], response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == "unauthenticated"
        if token is not None:
            assert token not in response.text
    # A working key in the query string is refused, and not logged.
    for query in (f"?api_key={keys['admin:*']}", f"?x={keys['admin:*']}", "?token=abc"):
        response = call(server, spec, token=keys["admin:*"], query=query)
        assert response.status_code == 401, response.text
    assert keys["admin:*"] not in server.log_path.read_text(errors="replace")
    # A key without the scope: 403.
    assert call(server, spec, token=keys["no_scopes"]).status_code == 403
    lacking = [role for role, scopes in ROLES.items() if spec.scope not in scopes]
    for role in lacking:
        response = call(server, spec, token=keys[f"{role}:*"])
        assert response.status_code == 403, (role, response.text)
        assert response.json()["code"] == "forbidden"
    # Across objects: a key for a* on model b1 (or, for server-wide routes, on the server).
    narrow = keys[f"{role_with(spec.scope)}:a*"]
    if spec.target == "model" and spec.model_param is not None:
        response = call(server, spec, model="b1", token=narrow)
        assert response.status_code == 403, response.text
        assert call(server, spec, model="b1", token=keys["admin_a"]).status_code == 403
    if spec.target == "server":
        assert call(server, spec, token=narrow).status_code == 403
    # The right scope: through the edge (whatever the endpoint then says of the body).
    right = keys[f"{role_with(spec.scope)}:{'*' if spec.target == 'server' else 'a*'}"]
    response = call(server, spec, token=right)
    assert response.status_code not in (401, 403) and response.status_code < 500, response.text


def test_lists_show_only_what_the_key_may_read(server: LiveServer, keys: dict[str, str]) -> None:
    narrow = bearer(keys["viewer:a*"])
    served = httpx.get(server.url + "/v1/models", headers=narrow).json()["models"]
    assert served == ["a1"]
    registered = httpx.get(server.url + "/api/models", headers=narrow).json()["models"]
    assert [m["name"] for m in registered] == ["a1"]
    everything = httpx.get(server.url + "/api/models", headers=bearer(keys["viewer:*"])).json()["models"]
    assert sorted(m["name"] for m in everything) == ["a1", "b1"]


def test_denials_reach_the_audit_trail(server: LiveServer, keys: dict[str, str]) -> None:
    httpx.get(server.url + "/api/models/b1", headers=bearer(keys["viewer:a*"]))
    httpx.get(server.url + "/api/models/b1", headers=bearer(keys["revoked"]))
    deadline = time.monotonic() + 5  # denials are written in the background
    while True:
        entries = httpx.get(
            server.url + "/api/audit", params={"limit": "1000"}, headers=bearer(keys["auditor:*"])
        ).json()["entries"]
        denied = [e for e in entries if e["outcome"] == "denied"]
        if {"auth.denied", "access.denied"} <= {e["action"] for e in denied} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"auth.denied", "access.denied"} <= {e["action"] for e in denied}, denied
    assert all(keys["revoked"] not in str(e) for e in entries)


def test_keys_over_http(server: LiveServer, keys: dict[str, str]) -> None:
    admin = bearer(keys["admin:*"])
    created = httpx.post(
        server.url + "/api/keys", json={"name": "ci", "role": "predictor", "models": ["a*"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    listed = httpx.get(server.url + "/api/keys", headers=admin).json()["keys"]
    assert created.json()["id"] in {k["id"] for k in listed}
    assert all("token" not in k and "secret_hash" not in k for k in listed)
    body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}
    assert httpx.post(server.url + "/v2/models/a1/infer", json=body, headers=bearer(token)).status_code == 200
    assert httpx.post(server.url + "/v2/models/b1/infer", json=body, headers=bearer(token)).status_code == 403
    revoked = httpx.delete(server.url + f"/api/keys/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert httpx.delete(server.url + f"/api/keys/{created.json()['id']}", headers=admin).status_code == 409
    # Within key_cache_seconds (0.5 s here) the revoked key no longer works.
    time.sleep(0.6)
    refused = httpx.post(server.url + "/v2/models/a1/infer", json=body, headers=bearer(token))
    assert refused.status_code == 401, refused.text
    verify = httpx.get(server.url + "/api/audit/verify", headers=bearer(keys["auditor:*"])).json()
    assert verify["ok"] is True
