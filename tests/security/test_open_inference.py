"""``open_inference`` opens inference, readiness and metadata of matching models to
anonymous callers, and nothing else; a non-loopback bind with anything anonymous needs
``--insecure-open``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from security_support import ROW, build_home

from live_server import LiveServer, free_port
from shipyard.http.route_spec import OPEN
from shipyard.http.routes import ROUTES

V2 = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("open")
    build_home(home)
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[LiveServer]:
    with LiveServer(home, ["a1", "b1"], settings={"open_inference": "a*"}) as srv:
        yield srv


def test_anonymous_may_infer_and_read_metadata_of_open_models(server: LiveServer) -> None:
    url = server.url
    assert httpx.post(url + "/v2/models/a1/infer", json=V2).status_code == 200
    assert httpx.post(url + "/v2/models/a1/versions/2/infer", json=V2).status_code == 200
    assert httpx.get(url + "/v2/models/a1").json()["name"] == "a1"
    assert httpx.get(url + "/v2/models/a1/ready").status_code == 200
    assert httpx.get(url + "/v2/models/a1/versions/2").status_code == 200
    assert httpx.get(url + "/v2/models/a1/versions/2/ready").status_code == 200
    assert httpx.get(url + "/v1/models/a1").status_code == 200
    assert httpx.post(url + "/v1/models/a1:predict", json={"instances": [ROW]}).status_code == 200
    assert httpx.post(url + "/models/a1/invocations", json={"inputs": [ROW]}).status_code == 200
    assert httpx.post(url + "/invocations", json={"inputs": [ROW]}).status_code == 200  # the first served: a1


def test_anonymous_may_do_nothing_else(server: LiveServer) -> None:
    url = server.url
    refused = [
        httpx.post(url + "/v2/models/b1/infer", json=V2),
        httpx.get(url + "/v2/models/b1"),
        httpx.get(url + "/v2/models/b1/ready"),
        httpx.get(url + "/v1/models/b1"),
        httpx.post(url + "/models/b1/invocations", json={"inputs": [ROW]}),
        httpx.get(url + "/v1/models"),
        httpx.get(url + "/v2"),
        httpx.get(url + "/metrics"),
        httpx.get(url + "/openapi.json"),
        httpx.get(url + "/api/models"),
        httpx.get(url + "/api/models/a1"),
        httpx.get(url + "/api/models/a1/versions/1"),
        httpx.get(url + "/api/models/a1/versions/1/artifact"),
        httpx.put(url + "/api/models/a1/aliases/prod", json={"version": 2}),
        httpx.delete(url + "/api/models/a1/aliases/prod"),
        httpx.post(url + "/api/models/a1/versions", files={"artifact": ("m", b"x")}),
        httpx.get(url + "/api/keys"),
        httpx.get(url + "/api/audit"),
    ]
    for response in refused:
        assert response.status_code == 401, (response.request.url, response.text)


def test_the_open_routes_are_exactly_the_flagged_ones() -> None:
    flagged = {(s.method, s.path) for s in ROUTES if s.open_inference}
    assert all(s.scope != OPEN and s.target == "model" for s in ROUTES if s.open_inference)
    assert {p for _, p in flagged} == {
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v1/models/{name}:predict",
        "/models/{name}/invocations",
        "/invocations",
        "/v2/models/{name}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/versions/{version}/ready",
        "/v1/models/{name}",
    }


def test_metrics_open_only_with_the_setting(home: Path) -> None:
    with LiveServer(home, ["a1"], settings={"open_metrics": "true"}) as server:
        assert httpx.get(server.url + "/metrics").status_code == 200
        assert httpx.get(server.url + "/v2/models/a1").status_code == 401


def _serve(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    env["SHIPYARD_WORKERS"] = "1"
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard", "serve", "a1", "--port", str(free_port()), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize("opening", [("--open-inference", "*"), ("--open-inference", "a1,b*")])
def test_non_loopback_bind_with_anonymous_routes_is_refused(home: Path, opening: tuple[str, ...]) -> None:
    proc = _serve(home, "--host", "0.0.0.0", *opening)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("error: refusing to listen on 0.0.0.0 with anonymous routes"), out
    assert len([line for line in lines if line.startswith("error")]) == 1
    assert "Uvicorn running" not in out


def test_insecure_open_starts_and_warns(home: Path) -> None:
    proc = _serve(home, "--host", "0.0.0.0", "--open-inference", "*", "--insecure-open")
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    text = "".join(seen)
    assert "INSECURE" in text and "anonymous routes" in text, text
    assert "Application startup complete" in text or "Uvicorn running" in text, text


def test_loopback_binds_may_be_open(home: Path) -> None:
    with LiveServer(home, ["a1"], settings={"open_inference": "*"}) as server:
        assert httpx.post(server.url + "/v2/models/a1/infer", json=V2).status_code == 200
