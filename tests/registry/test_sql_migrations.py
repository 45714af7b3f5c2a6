"""Schema migrations: packaged scripts, idempotent upgrades, one migrator at a time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from registry_sql_support import draft, open_store
from sqlalchemy import text

from registry_backends import run_together
from shipyard.errors import StorageError
from shipyard.registry.sql import RegistryStore, migrate
from shipyard.registry.sql.engine import create_engine, parse_url
from shipyard.registry.sql.tables import metadata


def test_head_is_the_newest_packaged_revision() -> None:
    packaged = sorted(
        p.name[:4] for p in (Path(migrate.SCRIPT_LOCATION) / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )
    assert migrate.head_revision() == packaged[-1]
    assert (Path(migrate.SCRIPT_LOCATION) / "versions" / "__init__.py").is_file()
    assert (Path(migrate.SCRIPT_LOCATION) / "script.py.mako").is_file()


def test_migrations_do_not_read_the_cwd(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = /nonexistent\n")
    monkeypatch.chdir(tmp_path)
    RegistryStore(db_url).close()
    engine = create_engine(parse_url(db_url))
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_schema_matches_the_tables_module(db_url: str) -> None:
    RegistryStore(db_url).close()
    engine = create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_upgrading_twice_keeps_data_and_does_nothing(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with RegistryStore(db_url) as store:
        store.add_version("iris", draft())
        store.set_alias("iris", "prod", 1)

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("an up-to-date schema was upgraded again")

    monkeypatch.setattr(command, "upgrade", must_not_run)
    engine = create_engine(parse_url(db_url))
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()
    with RegistryStore(db_url) as again:
        assert again.resolve("iris@prod").version == 1


def test_a_schema_from_a_newer_release_is_a_storage_error(db_url: str) -> None:
    RegistryStore(db_url).close()
    engine = create_engine(parse_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(StorageError, match="newer Shipyard"):
        RegistryStore(db_url)


@pytest.mark.slow
def test_concurrent_first_start_migrates_once(db_url: str) -> None:
    results = run_together(open_store, [(db_url,)] * 6)
    assert [r for r in results if r[1] != "ok"] == []
    engine = create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                migrate.head_revision()
            ]
    finally:
        engine.dispose()
    with RegistryStore(db_url) as store:
        assert store.add_version("iris", draft()).version == 1


def test_sqlite_uses_wal_and_a_lock_file_beside_the_database(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "registry.db"
    RegistryStore(f"sqlite:///{path}").close()
    assert path.with_name("registry.db.lock").exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_in_memory_sqlite_works(tmp_path: Path) -> None:
    with RegistryStore("sqlite://") as store:
        assert store.add_version("iris", draft()).version == 1
        assert store.add_version("iris", draft()).version == 2
