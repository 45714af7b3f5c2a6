"""The real PostgreSQL server on this machine, for any test: a database per module,
a schema per test. Tests skip with a clear reason where it is not reachable."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

# Overridable so that CI (or a check of the skip path) can point elsewhere.
PG_HOST, _, _port = os.environ.get("SHIPYARD_TEST_PG", "127.0.0.1:5432").partition(":")
PG_PORT = int(_port or 5432)
PG_USERS = ("postgres", "root")


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


def pg_schema_url(user: str, database: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=database, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{database}?options=-csearch_path%3D{schema}"
