"""Fixtures for the SQL registry store: one URL per backend, isolated per test.

SQLite gets a file under ``tmp_path``. PostgreSQL (127.0.0.1:5432, trust auth) gets a
fresh database per test module, dropped afterwards, and inside it a fresh schema per test
(selected through ``search_path`` in the URL), so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from shipyard.registry.sql import RegistryStore

# Overridable so that CI (or a check of the skip path) can point elsewhere.
PG_HOST, _, _port = os.environ.get("SHIPYARD_TEST_PG", "127.0.0.1:5432").partition(":")
PG_PORT = int(_port or 5432)
PG_USERS = ("postgres", "root")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _admin_user() -> str | None:
    for user in PG_USERS:
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname="test", connect_timeout=3):
                return user
        except psycopg.Error:
            continue
    return None


@pytest.fixture(scope="session")
def pg_user() -> str:
    """A PostgreSQL superuser name, or the PostgreSQL tests are skipped."""
    user = _admin_user()
    if user is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} as any of {', '.join(PG_USERS)}")
    return user


@pytest.fixture(scope="module")
def pg_database(pg_user: str) -> Iterator[str]:
    """The name of a database created for this test module and dropped after it."""
    name = f"shipyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=pg_user, dbname="test", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=pg_user, dbname="test", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _pg_schema_url(user: str, database: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: every test that takes a URL runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty registry database of the current backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    user = request.getfixturevalue("pg_user")
    return _pg_schema_url(user, request.getfixturevalue("pg_database"))


@pytest.fixture
def store(db_url: str) -> Iterator[RegistryStore]:
    """An open store on an empty database, closed after the test."""
    opened = RegistryStore(db_url)
    yield opened
    opened.close()
