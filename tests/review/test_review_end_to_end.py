"""End to end through a served model: ``clf``'s controls hold every prediction (top
probability below 1.0) for review; the V2 call answers 202 ``pending_review`` with a
ticket, a reviewer overrides it through the CLI, and the caller's poll gets the answer;
the reviewed label is the prediction's feedback. A second model's review times out to its
fallback answer. (Needs the data plane's review hold, ``serving/review_hold.py``.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from review_support import call

from homes import open_home
from live_server import LiveServer
from prediction_homes import N_FEATURES, build_home, key_for, wait_for
from shipyard.cli.main import cli
from shipyard.sdk.client import Client
from shipyard.sdk.payloads import v2_request


@pytest.fixture(scope="module")
def held_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("review-e2e")
    build_home(home)
    services = open_home(home)
    try:
        services.store.controls.set(
            "clf", {"review": {"rules": [{"kind": "low_confidence", "below": 1.0}], "timeout_seconds": 3600}}
        )
        services.store.controls.set(
            "txt",
            {
                "review": {"rules": [{"kind": "sample", "rate": 1.0}], "timeout_seconds": 1},
                "fallback": {"answer": {"predict": "no"}},
            },
        )
    finally:
        services.close()
    live = LiveServer(home, ["clf", "txt"], settings={"access_log": "false", "review_poll_seconds": "0.2"}).start()
    try:
        yield live
    finally:
        live.stop()


def _infer(server: LiveServer, model: str, token: str, rows: int = 2) -> httpx.Response:
    X = np.random.default_rng(5).normal(size=(rows, N_FEATURES))
    return httpx.post(
        f"{server.url}/v2/models/{model}/infer",
        json=v2_request(X),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_a_held_prediction_round_trip(held_server: LiveServer, tmp_path: Path) -> None:
    predictor = key_for(held_server, "predictor")
    reviewer = key_for(held_server, "reviewer")
    held = _infer(held_server, "clf", predictor)
    assert held.status_code == 202, held.text
    body = held.json()
    assert body["status"] == "pending_review" and body["poll"] == f"/reviews/{body['ticket']}"
    assert body["reasons"] == ["low_confidence"] and body["model"] == "clf"
    ticket = body["ticket"]
    polled = call(held_server, "GET", body["poll"], predictor).json()
    assert polled["status"] == "pending" and polled["request_id"] == body["request_id"]
    # A reviewer overrides it through the CLI, on the server.
    key_file = tmp_path / "reviewer.key"
    key_file.write_text(reviewer)
    remote = ["--url", held_server.url, "--api-key-file", str(key_file)]
    runner = CliRunner()
    shown = runner.invoke(cli, ["review", "show", ticket, *remote, "--json"])
    assert shown.exit_code == 0, shown.stderr
    assert len(json.loads(shown.stdout)["proposed"]["predict"]) == 2
    decided = runner.invoke(cli, ["review", "decide", ticket, "override", "--predict", "1", "--predict", "0", *remote])
    assert decided.exit_code == 0, decided.stderr
    with Client(held_server.url, api_key=predictor) as client:
        answer = client.wait_for_review(ticket, timeout=10, poll=0.2)
    assert answer["status"] == "decided" and answer["outputs"]["predict"] == [1, 0]
    feedback = call(held_server, "GET", f"/feedback/{body['request_id']}").json()["feedback"]
    assert [(r["row"], r["label"]) for r in feedback] == [(0, 1), (1, 0)]


def test_an_unreviewed_prediction_gets_the_fallback(held_server: LiveServer) -> None:
    predictor = key_for(held_server, "predictor")
    held = _infer(held_server, "txt", predictor, rows=1)
    assert held.status_code == 202, held.text
    ticket = held.json()["ticket"]

    def expired() -> bool:
        return bool(call(held_server, "GET", f"/reviews/{ticket}", predictor).json()["status"] == "expired")

    wait_for(expired)
    answer = call(held_server, "GET", f"/reviews/{ticket}", predictor).json()
    assert answer["decision"] == "expired" and answer["outputs"] == {"predict": ["no"]}
