"""A live server per registry backend (SQLite, PostgreSQL), shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from live_server import LiveServer
from postgres_db import pg_schema_url
from prediction_homes import build_home, start_server


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp(f"feedback-{request.param}")
    url = None
    if request.param == "postgres":
        url = pg_schema_url(request.getfixturevalue("pg_user"), request.getfixturevalue("pg_database"))
    build_home(home, url)
    live = start_server(home, url)
    try:
        yield live
    finally:
        live.stop()
