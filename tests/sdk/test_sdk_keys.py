"""API keys on the client side: ``shipyard.Client`` and ``shipyard predict --url``.

The key comes from ``api_key=`` or ``$SHIPYARD_API_KEY``, travels only as
``Authorization: Bearer``, and never shows in a URL, a repr, a log line or an error message.
Header handling is checked on a mock transport and a recording HTTP server; the refusals and
their hints against a real server with keys.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from live_server import LiveServer, create_key
from shipyard.cli.main import cli
from shipyard.errors import InvalidRequest, RemoteError, Unavailable
from shipyard.sdk.client import HINT_BAD_KEY, HINT_FORBIDDEN, HINT_NO_KEY, Client

KEY = "shp_0123456789ab_" + "S3cr3t-abcdefghijklmnopqrstuvwxyz_ABCDEFGHI"
SECRET = KEY.split("_", 2)[2]
INFER_ANSWER = {
    "model_name": "wine",
    "outputs": [{"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}],
}


class Recorder:
    """A mock transport remembering every request; answers ``status`` with ``body``."""

    def __init__(self, status: int = 200, body: object = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.body = body if body is not None else INFER_ANSWER

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    def client(self, **kwargs: object) -> Client:
        return Client("http://shipyard.test", transport=httpx.MockTransport(self), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_API_KEY", raising=False)


def assert_no_key(text: str) -> None:
    assert KEY not in text
    assert SECRET not in text


def test_api_key_is_sent_as_bearer_only() -> None:
    recorder = Recorder()
    with recorder.client(api_key=KEY) as client:
        client.predict("wine", np.zeros((2, 3)))
        client.ready()
    assert len(recorder.requests) == 2
    for request in recorder.requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert_no_key(str(request.url))


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_API_KEY", f"  {KEY}\n")
    recorder = Recorder(body={"models": []})
    with recorder.client() as client:
        assert client.authenticated
        client.models()
    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"
    # api_key= wins over the environment.
    other = "shp_ffffffffffff_" + "x" * 43
    recorder = Recorder(body={"models": []})
    with recorder.client(api_key=other) as client:
        client.models()
    assert recorder.requests[0].headers["authorization"] == f"Bearer {other}"


def test_no_key_sends_no_authorization() -> None:
    recorder = Recorder(body={"models": []})
    with recorder.client() as client:
        assert not client.authenticated
        client.models()
    assert "authorization" not in recorder.requests[0].headers


def test_empty_env_key_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_API_KEY", "  ")
    recorder = Recorder(body={"models": []})
    with recorder.client() as client:
        client.models()
    assert "authorization" not in recorder.requests[0].headers


def test_a_key_that_cannot_be_a_header_is_refused_without_echo() -> None:
    for bad in (KEY + "\nX-Injected: 1", KEY + " tail", "shp_é_" + SECRET):
        with pytest.raises(InvalidRequest) as info:
            Client("http://shipyard.test", api_key=bad)
        assert_no_key(str(info.value))
        assert_no_key(repr(info.value))


def test_repr_never_shows_the_key() -> None:
    with Recorder().client(api_key=KEY) as client:
        for text in (repr(client), str(client), repr(client._http), repr(client._http.auth), repr(vars(client)["url"])):
            assert_no_key(text)
        assert "***" in repr(client)
    with Recorder().client() as client:
        assert repr(client) == "Client('http://shipyard.test', api_key=None)"


@pytest.mark.parametrize(
    ("status", "code", "with_key", "hint"),
    [
        (401, "unauthenticated", False, HINT_NO_KEY),
        (401, "unauthenticated", True, HINT_BAD_KEY),
        (403, "forbidden", True, HINT_FORBIDDEN),
    ],
)
def test_401_and_403_say_what_to_do(status: int, code: str, with_key: bool, hint: str) -> None:
    recorder = Recorder(status, {"error": f"refused {KEY}", "code": code})
    with recorder.client(api_key=KEY if with_key else None) as client, pytest.raises(RemoteError) as info:
        client.models()
    error = info.value
    assert error.status == status
    assert error.remote_code == code
    assert error.hint == hint
    if not with_key:
        assert "SHIPYARD_API_KEY" in str(error)
        assert "shipyard keys create" in str(error)
    else:
        # A server that echoed the key is redacted at the boundary.
        assert_no_key(str(error))
        assert_no_key(repr(error))
        assert_no_key(json.dumps(error.to_dict()))


def test_download_401_gets_the_hint(tmp_path: Path) -> None:
    recorder = Recorder(401, {"error": "no API key", "code": "unauthenticated"})
    with recorder.client() as client, pytest.raises(RemoteError) as info:
        client.download("wine", 1, tmp_path)
    assert info.value.hint == HINT_NO_KEY


def test_transport_errors_and_logs_carry_no_key(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect (sent {request.headers.get('authorization')})", request=request)

    with caplog.at_level(logging.DEBUG):
        client = Client("http://shipyard.test", api_key=KEY, transport=httpx.MockTransport(refuse))
        with client, pytest.raises(Unavailable) as info:
            client.models()
    assert_no_key(str(info.value))
    assert_no_key(caplog.text)


class _Recording(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # the V2 infer route
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen.append({"path": self.path, "authorization": self.headers.get("authorization", "")})
        body = json.dumps(INFER_ANSWER).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A real HTTP server on loopback that remembers the headers of each request."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recording,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_cli_predict_sends_the_key(
    recording_server: tuple[str, list[dict[str, str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = recording_server
    inputs = tmp_path / "inputs.csv"
    inputs.write_text("a,b\n1,2\n3,4\n")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    # From the environment.
    monkeypatch.setenv("SHIPYARD_API_KEY", KEY)
    result = runner.invoke(cli, ["predict", "wine", "--input", str(inputs), "--url", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"] == {"predict": [1, 0]}
    assert seen[-1] == {"path": "/v2/models/wine/infer", "authorization": f"Bearer {KEY}"}
    assert_no_key(result.output)

    # From a file (first line, newline dropped), over the environment.
    other = "shp_ffffffffffff_" + "y" * 43
    key_file = tmp_path / "key"
    key_file.write_text(other + "\n")
    result = runner.invoke(
        cli, ["predict", "wine", "--input", str(inputs), "--url", url, "--api-key-file", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    assert seen[-1]["authorization"] == f"Bearer {other}"

    # Without either, no header at all.
    monkeypatch.delenv("SHIPYARD_API_KEY")
    result = runner.invoke(cli, ["predict", "wine", "--input", str(inputs), "--url", url])
    assert result.exit_code == 0, result.output
    assert seen[-1]["authorization"] == ""

    # There is deliberately no option taking the key itself.
    result = runner.invoke(cli, ["predict", "wine", "--input", str(inputs), "--url", url, "--api-key", KEY])
    assert result.exit_code == 2
    empty = tmp_path / "empty"
    empty.write_text("\n")
    result = runner.invoke(cli, ["predict", "wine", "--input", str(inputs), "--url", url, "--api-key-file", str(empty)])
    assert result.exit_code != 0
    assert "empty" in result.output


# -- against a real server with keys -------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, np.ndarray]]:
    """``lr`` served by a real server; its admin key, and a predictor key for ``other*`` only."""
    from sklearn.linear_model import LogisticRegression

    from homes import open_home

    home = tmp_path_factory.mktemp("keys") / "home"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression().fit(X, (X[:, 0] > 0).astype(np.int64)), sample=X[:5])
    finally:
        svc.close()
    narrow = create_key(home, "predictor", ["other*"])
    with LiveServer(home, ["lr"]) as server:
        yield server, narrow, X


def test_live_key_from_env_and_argument(
    keyed_server: tuple[LiveServer, str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, X = keyed_server
    assert server.api_key is not None
    with Client(server.url, api_key=server.api_key) as client:
        assert client.predict("lr", X[:3])["predict"].shape == (3,)
        assert [m["name"] for m in client.models()] == ["lr"]
        assert server.api_key not in repr(client)
    monkeypatch.setenv("SHIPYARD_API_KEY", server.api_key)
    with Client(server.url) as client:
        assert client.predict("lr", X[:2])["predict"].shape == (2,)


def test_live_refusals_say_what_to_do(keyed_server: tuple[LiveServer, str, np.ndarray]) -> None:
    server, narrow, X = keyed_server
    with Client(server.url) as client, pytest.raises(RemoteError) as info:
        client.predict("lr", X[:1])
    assert (info.value.status, info.value.hint) == (401, HINT_NO_KEY)

    unknown = "shp_0123456789ab_" + "A" * 43
    with Client(server.url, api_key=unknown) as client, pytest.raises(RemoteError) as info:
        client.models()
    assert (info.value.status, info.value.hint) == (401, HINT_BAD_KEY)
    assert "A" * 43 not in str(info.value)

    with Client(server.url, api_key=narrow) as client:
        with pytest.raises(RemoteError) as info:
            client.predict("lr", X[:1])
        assert info.value.status in (403, 404)
        if info.value.status == 403:
            assert info.value.hint == HINT_FORBIDDEN
        with pytest.raises(RemoteError) as info:
            client.register("lr", __file__)
        assert info.value.status == 403
        assert info.value.hint == HINT_FORBIDDEN
        secret = narrow.split("_", 2)[2]
        assert secret not in str(info.value)
        assert secret not in repr(client)


def test_live_cli_predict_with_the_env_key(
    keyed_server: tuple[LiveServer, str, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, X = keyed_server
    inputs = tmp_path / "inputs.csv"
    np.savetxt(inputs, X[:4], delimiter=",", header="x0,x1,x2", comments="")
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "client-home"))
    runner = CliRunner()
    args = ["predict", "lr", "--input", str(inputs), "--url", server.url, "--json"]
    refused = runner.invoke(cli, args)
    assert refused.exit_code == 10, refused.output  # Unauthenticated's exit code
    assert "SHIPYARD_API_KEY" in refused.output
    assert server.api_key is not None
    monkeypatch.setenv("SHIPYARD_API_KEY", server.api_key)
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["outputs"]["predict"]) == 4
    assert server.api_key not in result.output
