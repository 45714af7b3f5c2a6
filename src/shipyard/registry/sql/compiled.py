"""The compiled form of a version, in its own table (``compiled_versions``).

A version row is never updated; compiling (at registration or later) adds a row here, or
replaces it when compiled again. Only this module, the store and ``rows`` know its layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.registry.sql import queries
from shipyard.registry.sql.engine import upsert
from shipyard.registry.sql.rows import compiled_values
from shipyard.registry.sql.tables import compiled_versions
from shipyard.registry.types import CompiledArtifact, ModelVersion, VersionDraft


def draft_values(draft: VersionDraft) -> dict[str, Any] | None:
    """The compiled row a new version's draft asks for, or None when it carries no compiled form."""
    if draft.compiled is None and draft.compile_error is None and draft.serving_runtime == "native":
        return None
    return compiled_values(
        draft.compiled,
        serving_runtime=draft.serving_runtime,
        compile_error=draft.compile_error,
        updated_at=queries.now(),
    )


def insert(conn: Connection, version_id: int, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(compiled_versions).values(**values, version_id=version_id))


def recorder(
    name: str,
    number: int,
    compiled: CompiledArtifact | None,
    serving_runtime: str,
    compile_error: str | None,
    *,
    within: Callable[[Connection, int, ModelVersion], None] | None = None,
) -> Callable[[Connection], ModelVersion]:
    """The transaction body that records (or replaces) the compiled form of ``name/number``."""
    values = compiled_values(
        compiled, serving_runtime=serving_runtime, compile_error=compile_error, updated_at=queries.now()
    )

    def work(conn: Connection) -> ModelVersion:
        model_id = queries.model_row(conn, name)["id"]
        version_id = queries.version_row(conn, model_id, name, number)["id"]
        upsert(conn, compiled_versions, {**values, "version_id": version_id}, ["version_id"])
        record = queries.load_version(conn, name, model_id, number)
        if within is not None:
            within(conn, version_id, record)
        return record

    return work
