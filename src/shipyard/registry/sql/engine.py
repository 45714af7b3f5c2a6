"""Engines for the two supported backends, and what differs between them.

SQLite (the default) and PostgreSQL are the only backends. SQLite gets WAL (readers never
wait for the writer), a busy timeout, foreign keys, and ``BEGIN IMMEDIATE`` for write
transactions: pysqlite's default deferred ``BEGIN`` takes the write lock only at the first
write, and two writers that both read first then deadlock on the lock upgrade and one
fails at once with "database is locked", whatever the busy timeout says. Taking the write
lock up front makes writers queue behind each other instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from shipyard.errors import ConfigError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "shipyard_write"
"""Execution option: this connection's transactions write, so SQLite begins IMMEDIATE."""

_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, safe to log or show."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def parse_url(url: str) -> URL:
    """Parse and normalise a registry URL; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(
            f"invalid registry URL {mask_url(url)!r}",
            hint="use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB",
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        # psycopg2 is not a dependency; psycopg 3 is.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported registry backend {parsed.get_backend_name()!r} in {mask_url(parsed)!r}",
            hint="the registry runs on SQLite or PostgreSQL",
        )
    return parsed


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database).expanduser().resolve()


def create_engine(url: URL) -> Engine:
    """An engine for ``url`` with the per-backend settings described in the module docstring."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return sa.create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:  # e.g. a driver that is not installed
        raise ConfigError(f"cannot use registry URL {mask_url(url)!r}: {exc}") from exc


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    if path is None:
        # One shared connection, or every checkout would see its own empty database.
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url.set(database=str(path)), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let us emit BEGIN ourselves (below); pysqlite's own BEGIN is always deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout comes first so that the journal-mode switch waits too.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if path is not None:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                # Safe with WAL: a crash may lose the last commits, never corrupt the file.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writes = bool(conn.get_execution_options().get(WRITE_OPTION))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert a row unless one with the same ``keys`` exists (never fails on that conflict)."""
    if conn.dialect.name == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(pg_stmt)
    else:
        lite_stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(lite_stmt)


def upsert(conn: Connection, table: sa.Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert a row, or update the non-key columns of the one with the same ``keys``."""
    changes = {k: v for k, v in values.items() if k not in keys}
    if conn.dialect.name == "postgresql":
        pg_stmt = postgresql.insert(table).values(**values)
        conn.execute(pg_stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
    else:
        lite_stmt = sqlite.insert(table).values(**values)
        conn.execute(lite_stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
