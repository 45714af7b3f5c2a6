"""Bringing a registry database's schema to the newest Alembic revision, one process at a time.

Every ``RegistryStore`` does this on start, so many processes may try at once (several
server workers, a CLI run beside them). They take turns: a ``filelock`` beside a SQLite
file, ``pg_advisory_lock`` on PostgreSQL. A database already at head is left untouched.
The scripts live in the package (``shipyard.registry.migrations``), never in the cwd.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

import shipyard.registry.migrations
from shipyard.errors import StorageError
from shipyard.registry.sql.engine import WRITE_OPTION, mask_url, sqlite_path
from shipyard.registry.sql.transactions import translate

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 300.0
SCRIPT_LOCATION = str(Path(shipyard.registry.migrations.__file__).parent)
# pg_advisory_lock takes a bigint; derive a stable one from a name nobody else would use.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"shipyard.registry.migrate").digest()[:8], "big", signed=True)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (no alembic.ini is read)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision the installed package knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"reading the schema revision of {mask_url(engine.url)}") from exc


def upgrade(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to head; a no-op when it is there already."""
    head = head_revision()
    where = mask_url(engine.url)
    path = sqlite_path(engine.url)
    if path is None and engine.dialect.name == "sqlite":
        _upgrade_locked(engine, head, where)  # in-memory: nobody else can see it
        return
    if path is not None:
        # The first connection (and its switch to WAL) happens inside the lock too.
        with _file_lock(path.with_name(path.name + ".lock")):
            _upgrade_locked(engine, head, where)
        return
    # PostgreSQL: skip the lock entirely in the common case of an up-to-date schema.
    if current_revision(engine) == head:
        return
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                _upgrade_locked(engine, head, where)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"migrating {where}") from exc


def _upgrade_locked(engine: Engine, head: str | None, where: str) -> None:
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            logger.info("upgrading registry schema of %s from %s to %s", where, current or "empty", head)
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
    except CommandError as exc:
        # Typically a revision this package does not know: a newer Shipyard migrated it.
        raise StorageError(
            f"cannot migrate the registry schema of {where}: {exc}",
            hint="was this database upgraded by a newer Shipyard? run that version, or restore a backup",
        ) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"migrating {where}") from exc


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock = FileLock(str(path), timeout=LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except FileLockTimeout as exc:
        raise StorageError(
            f"another process has held the migration lock {path} for {LOCK_TIMEOUT_SECONDS:.0f}s",
            hint="is a migration stuck? stop it, or remove the lock file if no Shipyard process runs",
        ) from exc
    except OSError as exc:
        raise StorageError(f"cannot take the migration lock {path}: {exc}") from exc
    try:
        yield
    finally:
        lock.release()
