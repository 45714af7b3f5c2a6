"""A live server with review tickets: its review worker ticks every 0.2 s, may deliver to
loopback webhooks, and signs them with a known secret; keys of each role over ``*``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from review_support import SECRET

from live_server import LiveServer
from prediction_homes import build_home, key_for


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("review")
    build_home(home)
    live = LiveServer(
        home,
        ["clf", "txt", "reg"],
        settings={"access_log": "false", "review_poll_seconds": "0.2", "webhook_allow_private": "true"},
        env={"SHIPYARD_REVIEW_WEBHOOK_SECRET": SECRET},
    ).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def keys(server: LiveServer) -> dict[str, str]:
    return {
        "predictor": key_for(server, "predictor"),
        "predictor2": key_for(server, "predictor"),
        "reviewer": key_for(server, "reviewer"),
        "reviewer2": key_for(server, "reviewer"),
        "reviewer_other": key_for(server, "reviewer", ("clf",)),
        "viewer": key_for(server, "viewer"),
    }
