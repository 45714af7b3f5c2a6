"""Helpers for the security tests: drafts, raw SQL tampering, and process bodies.

The worker functions run in ``spawn``ed processes, so they live in an importable module.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection

from shipyard.governance.chain import AuditEvent
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.engine import create_engine, parse_url
from shipyard.registry.types import ArtifactRef, VersionDraft
from shipyard.schema.signature import FieldSpec, Signature

SIGNATURE = Signature("columns", (FieldSpec("x", "float64"),), (FieldSpec("p", "float64"),))


def draft(**changes: Any) -> VersionDraft:
    values: dict[str, Any] = {
        "flavor": "sklearn",
        "artifact": ArtifactRef("0" * 64, 123, "m.skops"),
        "signature": SIGNATURE,
    }
    values.update(changes)
    return VersionDraft(**values)


@contextmanager
def raw_sql(url: str) -> Iterator[Connection]:
    """A connection straight to the database, as an attacker with write access has (committed at exit)."""
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def append_many(url: str, count: int, index: int, barrier: Any, results: Any) -> None:
    """Open a store and append ``count`` audit entries, all processes starting together."""
    try:
        store = RegistryStore(url, audit_hmac_key=b"k")
        try:
            barrier.wait(timeout=180)
            for i in range(count):
                store.audit.append(AuditEvent(f"user:w{index}", "local", "test.append", f"w{index}/{i}"))
        finally:
            store.close()
        results.put((index, "ok", None))
    except BaseException as exc:
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
