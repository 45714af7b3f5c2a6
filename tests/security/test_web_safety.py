"""Web safety at the edge: the Host allowlist, cross-site state changes, management media
types, security headers, CORS off unless configured."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import skops.io
from security_support import Keys, bearer, build_home
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("web")
    build_home(home)
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[LiveServer]:
    with LiveServer(home, ["a1", "b1"]) as srv:
        yield srv


def alias_of(home: Path, name: str, alias: str) -> int | None:
    svc = open_home(home)
    try:
        return svc.store.get_model(name).aliases.get(alias)
    finally:
        svc.close()


def versions_of(home: Path, name: str) -> int:
    svc = open_home(home)
    try:
        return len(svc.store.list_versions(name))
    finally:
        svc.close()


def skops_bytes() -> bytes:
    X = [[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0], [3.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 2.0]]
    return io.BytesIO(skops.io.dumps(LogisticRegression().fit(X, [0, 1, 1, 0]))).getvalue()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_foreign_host_is_misdirected(server: LiveServer, host: str) -> None:
    for path in ("/v2/health/live", "/api/models"):
        response = httpx.get(server.url + path, headers={**server.auth_headers, "Host": host})
        assert response.status_code == 421, response.text
        assert response.json()["code"] == "misdirected_request"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
def test_own_hosts_are_answered(server: LiveServer, host: str) -> None:
    for value in (host, f"{host}:{server.port}"):
        assert httpx.get(server.url + "/api/models", headers={**server.auth_headers, "Host": value}).status_code == 200
    # On another port, the name is somebody else's.
    assert httpx.get(server.url + "/v2/health/live", headers={"Host": f"{host}:1"}).status_code == 421


def test_allowed_hosts_setting(home: Path) -> None:
    with LiveServer(home, ["a1"], settings={"allowed_hosts": "models.internal"}) as server:
        ok = httpx.get(server.url + "/v2/health/live", headers={"Host": "models.internal"})
        assert ok.status_code == 200
        assert httpx.get(server.url + "/v2/health/live", headers={"Host": "localhost"}).status_code == 421
        # The IP literal the connection arrived on is always fine (no rebinding can forge it).
        assert httpx.get(server.url + "/v2/health/live").status_code == 200


CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost:1"},
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=["origin", "null-origin", "other-port", "sec-fetch-site"])
def test_cross_site_changes_are_refused_and_change_nothing(
    server: LiveServer, home: Path, headers: dict[str, str]
) -> None:
    auth = {**server.auth_headers, **headers}
    moved = httpx.put(server.url + "/api/models/a1/aliases/prod", json={"version": 2}, headers=auth)
    assert moved.status_code == 403, moved.text
    assert moved.json()["code"] == "cross_site_request"
    assert alias_of(home, "a1", "prod") == 1
    deleted = httpx.delete(server.url + "/api/models/a1/aliases/prod", headers=auth)
    assert deleted.status_code == 403
    assert alias_of(home, "a1", "prod") == 1
    before = versions_of(home, "a1")
    upload = httpx.post(
        server.url + "/api/models/a1/versions", files={"artifact": ("m.skops", skops_bytes())}, headers=auth
    )
    assert upload.status_code == 403, upload.text
    assert versions_of(home, "a1") == before
    # A cross-site form post without any key is refused too (before it could say 401).
    form = httpx.post(server.url + "/api/models/a1/versions", files={"artifact": ("m", b"x")}, headers=headers)
    assert form.status_code == 403


def test_same_origin_and_same_site_changes_work(server: LiveServer, home: Path) -> None:
    for headers in ({"Origin": server.url}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        put = httpx.put(
            server.url + "/api/models/b1/aliases/tmp", json={"version": 1}, headers={**server.auth_headers, **headers}
        )
        assert put.status_code == 200, put.text
    assert alias_of(home, "b1", "tmp") == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_management_json_routes_take_only_json(server: LiveServer, home: Path, content_type: str | None) -> None:
    headers = dict(server.auth_headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = httpx.put(server.url + "/api/models/a1/aliases/prod", content=b'{"version": 2}', headers=headers)
    assert response.status_code == 415, response.text
    assert alias_of(home, "a1", "prod") == 1
    keyed = httpx.post(server.url + "/api/keys", content=b'{"name": "x", "role": "admin"}', headers=headers)
    assert keyed.status_code == 415


def test_upload_takes_only_multipart_and_needs_a_key(server: LiveServer, home: Path) -> None:
    before = versions_of(home, "a1")
    raw = httpx.post(
        server.url + "/api/models/a1/versions",
        content=skops_bytes(),
        headers={**server.auth_headers, "Content-Type": "application/octet-stream"},
    )
    assert raw.status_code == 415
    anonymous = httpx.post(server.url + "/api/models/a1/versions", files={"artifact": ("m.skops", skops_bytes())})
    assert anonymous.status_code == 401
    assert versions_of(home, "a1") == before


def test_security_headers_on_every_response(server: LiveServer) -> None:
    responses = [
        httpx.get(server.url + "/v2/health/live"),
        httpx.get(server.url + "/api/models", headers=server.auth_headers),
        httpx.get(server.url + "/api/models/nope", headers=server.auth_headers),
        httpx.get(server.url + "/api/models"),  # 401
        httpx.get(server.url + "/nowhere"),  # 404 from the router
        httpx.get(server.url + "/metrics", headers=server.auth_headers),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    for response in responses[1:4]:
        assert response.headers["cache-control"] == "no-store", response.url
    assert "access-control-allow-origin" not in responses[1].headers


def test_cors_is_off_by_default(server: LiveServer) -> None:
    origin = {"Origin": "https://app.example"}
    preflight = httpx.options(
        server.url + "/v2/models/a1/infer",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400
    read = httpx.get(server.url + "/api/models", headers={**server.auth_headers, **origin})
    assert "access-control-allow-origin" not in read.headers


def test_cors_for_configured_origins_only(home: Path) -> None:
    allowed = "https://app.example"
    with LiveServer(home, ["a1"], settings={"cors_origins": allowed}) as server:
        preflight = httpx.options(
            server.url + "/v2/models/a1/infer",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        other = httpx.options(
            server.url + "/v2/models/a1/infer",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
        wrong_method = httpx.options(
            server.url + "/v2/models/a1/infer", headers={"Origin": allowed, "Access-Control-Request-Method": "DELETE"}
        )
        assert wrong_method.status_code == 403
        read = httpx.get(server.url + "/api/models", headers={**server.auth_headers, "Origin": allowed})
        assert read.headers["access-control-allow-origin"] == allowed
        # The listed origin may change things (it still needs a key); others may not.
        moved = httpx.put(
            server.url + "/api/models/a1/aliases/cors",
            json={"version": 1},
            headers={**server.auth_headers, "Origin": allowed, "Sec-Fetch-Site": "cross-site"},
        )
        assert moved.status_code == 200, moved.text
        refused = httpx.put(
            server.url + "/api/models/a1/aliases/cors",
            json={"version": 2},
            headers={**server.auth_headers, "Origin": "https://evil.example"},
        )
        assert refused.status_code == 403


def test_errors_name_no_server_path(server: LiveServer, home: Path) -> None:
    for response in (
        httpx.get(server.url + "/api/models/a1/versions/99/artifact", headers=server.auth_headers),
        httpx.post(
            server.url + "/api/models/a1/versions",
            files={"artifact": ("m.skops", b"not a model")},
            headers=server.auth_headers,
        ),
        httpx.get(server.url + "/api/models/b1", headers=bearer(Keys(home).make("viewer", ("a*",)))),
    ):
        assert response.status_code < 500
        assert str(home) not in response.text
        assert "/tmp" not in response.text
