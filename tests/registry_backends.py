"""A registry database per backend, isolated per test, and many processes started at once:
shared by the registry, governance and deployments suites.

SQLite gets a file under ``tmp_path``. PostgreSQL (127.0.0.1:5432, trust auth) gets a
fresh database per test module, dropped afterwards, and inside it a fresh schema per test
(selected through ``search_path`` in the URL), so tests never see each other's rows.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from postgres_db import pg_schema_url
from shipyard.registry.sql import RegistryStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: every test that takes a URL runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty registry database of the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    return pg_schema_url(request.getfixturevalue("pg_user"), request.getfixturevalue("pg_database"))


@pytest.fixture
def store(db_url: str) -> Iterator[RegistryStore]:
    """An open store on an empty database, closed after the test."""
    opened = RegistryStore(db_url)
    yield opened
    opened.close()


def run_together(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[tuple[int, str, Any]]:
    """Run ``target(*a, index, barrier, results)`` for each ``a`` in its own spawned process,
    all released together by the barrier; the sorted ``(index, status, detail)`` they put."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*a, i, barrier, results)) for i, a in enumerate(args)]
    for process in processes:
        process.start()
    try:
        collected = [results.get(timeout=240) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return sorted(collected)
