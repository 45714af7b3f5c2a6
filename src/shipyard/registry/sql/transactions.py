"""Running one registry transaction: retry what is transient, translate what is not.

This is the boundary where SQLAlchemy and driver errors stop: callers only ever see
``shipyard.errors`` classes. Two kinds of failure are worth another attempt after a
jittered pause: the database being busy (SQLite lock contention past the busy timeout,
PostgreSQL serialization failures and deadlocks), and, when the caller says so, a unique
constraint race (two writers computed the same next version number).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, ShipyardError, StorageError
from shipyard.registry.sql.engine import WRITE_OPTION

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_BUDGET_SECONDS = 60.0
_FIRST_PAUSE = 0.005
_MAX_PAUSE = 0.5
_SQLITE_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED (primary codes)
_PG_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock not available
_PG_UNIQUE_VIOLATION = "23505"


def run(
    engine: Engine,
    work: Callable[[Connection], T],
    *,
    write: bool,
    retry_unique: bool = False,
    what: str = "registry operation",
) -> T:
    """Run ``work`` in one transaction, committing on success, retrying transient failures."""
    deadline = time.monotonic() + RETRY_BUDGET_SECONDS
    attempt = 0
    while True:
        try:
            with engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE_OPTION: True})
                with conn.begin():
                    return work(conn)
        except ShipyardError:
            raise
        except sa_exc.DBAPIError as exc:
            retry = is_busy(exc) or (retry_unique and is_unique_violation(exc))
            if not retry or time.monotonic() >= deadline:
                raise translate(exc, what) from exc
            attempt += 1
            pause = min(_MAX_PAUSE, _FIRST_PAUSE * 2**attempt) * random.uniform(0.5, 1.5)
            logger.debug("%s: retrying after %s (attempt %d, %.3fs)", what, type(exc.orig).__name__, attempt, pause)
            time.sleep(pause)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, what) from exc


def is_busy(exc: sa_exc.DBAPIError) -> bool:
    """True when the database refused only because another transaction holds a lock."""
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _SQLITE_BUSY_CODES
    if getattr(orig, "sqlstate", None) in _PG_TRANSIENT_STATES:
        return True
    text = str(orig).lower()
    return isinstance(exc, sa_exc.OperationalError) and (
        "database is locked" in text or "database table is locked" in text
    )


def is_unique_violation(exc: sa_exc.DBAPIError) -> bool:
    """True for a unique or primary key constraint failure."""
    if not isinstance(exc, sa_exc.IntegrityError):
        return False
    if getattr(exc.orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        return True
    text = str(exc.orig).lower()
    return "unique constraint" in text or "primary key" in text


def translate(exc: sa_exc.SQLAlchemyError, what: str) -> ShipyardError:
    """The Shipyard error for a database failure; the driver's text without the SQL."""
    if isinstance(exc, sa_exc.DBAPIError):
        detail = _first_line(str(exc.orig))
        if isinstance(exc, sa_exc.IntegrityError):
            return Conflict(f"{what} conflicts with the registry's current state: {detail}")
        if is_busy(exc):
            return StorageError(f"{what} failed: the registry database stayed busy", hint=detail)
        return StorageError(f"{what} failed: registry database error: {detail}")
    return StorageError(f"{what} failed: {type(exc).__name__}: {_first_line(str(exc))}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "no detail"
