"""One live server over the guardrail home, shared by the package's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from guardrail_homes import SERVED, build_home

from live_server import LiveServer


@pytest.fixture(scope="package")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    home = tmp_path_factory.mktemp("guardrails") / "home"
    facts = build_home(home)
    server = LiveServer(
        home,
        SERVED,
        settings={
            "request_timeout_seconds": "3",
            "alias_poll_seconds": "0.2",
            "access_log": "false",
            "log_mode": "sync",
            "log_compact_seconds": "1",
        },
    ).start()
    try:
        yield server, facts
    finally:
        server.stop()


@pytest.fixture(scope="package")
def server(guarded: tuple[LiveServer, dict[str, Any]]) -> LiveServer:
    return guarded[0]


@pytest.fixture(scope="package")
def facts(guarded: tuple[LiveServer, dict[str, Any]]) -> dict[str, Any]:
    return guarded[1]
