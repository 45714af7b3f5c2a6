"""The database boundary: SQLite connection settings, retries, and error translation."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from registry_sql_support import draft
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.errors import ConfigError, Conflict, StorageError
from shipyard.registry.sql import RegistryStore, transactions
from shipyard.registry.sql.engine import WRITE_OPTION, create_engine, mask_url, parse_url


def _locked() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


def _duplicate() -> sa_exc.IntegrityError:
    orig = sqlite3.IntegrityError("UNIQUE constraint failed: model_versions.model_id, model_versions.version")
    return sa_exc.IntegrityError("INSERT ...", {}, orig)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    RegistryStore(url).close()
    return url


def test_sqlite_connections_get_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(parse_url(sqlite_url))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_sqlite_write_transactions_take_the_write_lock_up_front(sqlite_url: str) -> None:
    path = parse_url(sqlite_url).database
    assert path is not None
    engine = create_engine(parse_url(sqlite_url))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.connect() as reader, reader.begin():
            reader.execute(text("SELECT 1"))
            other.execute("BEGIN IMMEDIATE")  # a read transaction leaves the write lock free
            other.execute("ROLLBACK")
        writer = engine.connect().execution_options(**{WRITE_OPTION: True})
        with writer, writer.begin(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
        engine.dispose()


def test_sqlite_writer_waits_for_a_held_lock_instead_of_failing(sqlite_url: str) -> None:
    path = parse_url(sqlite_url).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        with RegistryStore(sqlite_url) as store:
            assert store.add_version("iris", draft()).version == 1
        assert time.monotonic() - started >= 0.9
    finally:
        release.join()
        holder.close()


def test_lock_errors_are_retried(db_url: str) -> None:
    engine = create_engine(parse_url(db_url))
    attempts: list[int] = []

    def work(conn: Connection) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise _locked()
        return "done"

    try:
        assert transactions.run(engine, work, write=True) == "done"
    finally:
        engine.dispose()
    assert len(attempts) == 3


def test_unique_races_are_retried_only_when_asked(db_url: str) -> None:
    engine = create_engine(parse_url(db_url))
    attempts: list[int] = []

    def work(conn: Connection) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise _duplicate()
        return "done"

    try:
        assert transactions.run(engine, work, write=True, retry_unique=True) == "done"
        attempts.clear()
        with pytest.raises(Conflict) as caught:
            transactions.run(engine, work, write=True)
    finally:
        engine.dispose()
    assert isinstance(caught.value.__cause__, sa_exc.IntegrityError)


def test_retries_give_up_with_a_storage_error(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "RETRY_BUDGET_SECONDS", 0.2)
    engine = create_engine(parse_url(db_url))

    def work(conn: Connection) -> None:
        raise _locked()

    try:
        with pytest.raises(StorageError, match="busy") as caught:
            transactions.run(engine, work, write=True)
    finally:
        engine.dispose()
    assert isinstance(caught.value.__cause__, sa_exc.OperationalError)


def test_driver_errors_become_storage_errors(db_url: str) -> None:
    engine = create_engine(parse_url(db_url))
    try:
        with pytest.raises(StorageError) as caught:
            transactions.run(engine, lambda conn: conn.execute(text("SELECT * FROM no_such_table")), write=False)
    finally:
        engine.dispose()
    assert isinstance(caught.value.__cause__, sa_exc.DBAPIError)
    assert "SELECT" not in str(caught.value)


def test_unreachable_postgres_is_a_storage_error_without_the_password() -> None:
    with pytest.raises(StorageError) as caught:
        RegistryStore("postgresql+psycopg://shipyard:hunter2@127.0.0.1:1/registry?connect_timeout=2")
    assert "hunter2" not in str(caught.value)
    assert isinstance(caught.value.__cause__, sa_exc.SQLAlchemyError)


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is not a sqlite database at all" * 100)
    with pytest.raises(StorageError):
        RegistryStore(f"sqlite:///{path}")


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "mysql://u:hunter2@localhost/db",
        "postgresql+psycopg://u:hunter2@host:notaport/db",
        "postgresql+nosuchdriver://u:hunter2@localhost/db",
    ],
    ids=["garbage", "mysql", "bad-port", "unknown-driver"],
)
def test_bad_urls_are_config_errors_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RegistryStore(url)
    assert "hunter2" not in str(caught.value)


def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql+psycopg://u:hunter2@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    assert "hunter2" not in mask_url("weird://u:hunter2@h:port/db")
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
