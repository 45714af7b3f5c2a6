"""Fixtures for the security tests: a registry database per backend, and a home with a model.

SQLite gets a file under ``tmp_path``; PostgreSQL (127.0.0.1:5432) a database per module
and a schema per test, as in ``tests/registry``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postgres_db import pg_schema_url
from shipyard.registry.sql import RegistryStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty registry database of the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    return pg_schema_url(request.getfixturevalue("pg_user"), request.getfixturevalue("pg_database"))


@pytest.fixture
def store(db_url: str) -> Iterator[RegistryStore]:
    opened = RegistryStore(db_url)
    yield opened
    opened.close()


@pytest.fixture
def hmac_store(db_url: str) -> Iterator[RegistryStore]:
    """A store whose audit entries carry an HMAC under a known key."""
    opened = RegistryStore(db_url, audit_hmac_key=b"audit-secret")
    yield opened
    opened.close()
