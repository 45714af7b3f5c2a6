"""One live server over the privacy home, shared by a test module (controls, erasure)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from privacy_support import build_home, start

from live_server import LiveServer


@pytest.fixture(scope="module")
def people_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("privacy") / "home"
    home.mkdir()
    build_home(home, ["people"], {"pii": {"email": "hash", "name": "drop"}})
    build_home(home, ["held"], {"pii": {"email": "hash"}, "review": {"rules": [{"kind": "sample", "rate": 1.0}]}})
    server = start(home, ["people", "held"], log_compact_seconds="3600")
    try:
        yield server
    finally:
        server.stop()
