"""Reads inside an open registry transaction: rows by name, and records built from them.

Shared by every store method; each function takes the transaction's connection and never
commits, so a caller can combine several in one consistent snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from shipyard.errors import ModelNotFound, VersionNotFound
from shipyard.registry.sql.rows import model_record, version_record
from shipyard.registry.sql.tables import aliases, compiled_versions, model_tags, model_versions, models, version_tags
from shipyard.registry.types import Model, ModelVersion


def now() -> datetime:
    """The current time, timezone-aware UTC (the only kind the registry stores)."""
    return datetime.now(UTC)


def find_model(conn: Connection, name: str) -> Model | None:
    """The model called ``name``, or None."""
    row = conn.execute(sa.select(models).where(models.c.name == name)).mappings().first()
    return None if row is None else load_model(conn, row)


def model_row(conn: Connection, name: str, *, for_update: bool = False) -> RowMapping:
    """The model's row; ``ModelNotFound`` if there is none."""
    query = sa.select(models).where(models.c.name == name)
    # FOR UPDATE queues writers of one model on PostgreSQL; SQLite renders no clause.
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    if row is None:
        raise ModelNotFound(f"model {name!r} not found", hint="`shipyard models list` shows registered models")
    return row


def version_row(conn: Connection, model_id: int, name: str, number: int) -> RowMapping:
    """The row of version ``number``; ``VersionNotFound`` if there is none."""
    query = sa.select(model_versions).where(model_versions.c.model_id == model_id, model_versions.c.version == number)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise VersionNotFound(f"model {name!r} has no version {number}")
    return row


def load_model(conn: Connection, row: RowMapping) -> Model:
    """A ``Model`` with its tags, aliases and latest version number."""
    model_id = row["id"]
    tag_q = sa.select(model_tags.c.key, model_tags.c.value).where(model_tags.c.model_id == model_id)
    alias_q = sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model_id == model_id)
    latest_q = sa.select(sa.func.max(model_versions.c.version)).where(model_versions.c.model_id == model_id)
    from shipyard.registry.sql.policies import current_in  # policies reads through this module

    return model_record(
        row,
        tags={r.key: r.value for r in conn.execute(tag_q)},
        aliases={r.alias: r.version for r in conn.execute(alias_q)},
        latest=conn.execute(latest_q).scalar(),
        default_tier=current_in(conn).policy.default_tier,
    )


def load_versions(conn: Connection, name: str, model_id: int, rows: list[RowMapping]) -> list[ModelVersion]:
    """``ModelVersion`` records for ``rows`` of one model, in the same order, with tags and aliases."""
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    tags: dict[int, dict[str, str]] = {}
    for tag in conn.execute(sa.select(version_tags).where(version_tags.c.version_id.in_(ids))).mappings():
        tags.setdefault(tag["version_id"], {})[tag["key"]] = tag["value"]
    compiled_q = sa.select(compiled_versions).where(compiled_versions.c.version_id.in_(ids))
    compiled = {row["version_id"]: row for row in conn.execute(compiled_q).mappings()}
    pointing: dict[int, list[str]] = {}
    alias_q = sa.select(aliases.c.alias, aliases.c.version).where(aliases.c.model_id == model_id)
    for alias in conn.execute(alias_q):
        pointing.setdefault(alias.version, []).append(alias.alias)
    return [
        version_record(
            r,
            model=name,
            tags=tags.get(r["id"], {}),
            aliases=tuple(pointing.get(r["version"], ())),
            compiled=compiled.get(r["id"]),
        )
        for r in rows
    ]


def load_version(conn: Connection, name: str, model_id: int, number: int) -> ModelVersion:
    """Version ``number`` of the model, with its tags and aliases; ``VersionNotFound`` if absent."""
    return load_versions(conn, name, model_id, [version_row(conn, model_id, name, number)])[0]


def latest(conn: Connection, name: str) -> ModelVersion:
    """The highest-numbered version; ``VersionNotFound`` if the model has none."""
    model_id = model_row(conn, name)["id"]
    query = sa.select(model_versions).where(model_versions.c.model_id == model_id)
    row = conn.execute(query.order_by(model_versions.c.version.desc()).limit(1)).mappings().first()
    if row is None:
        raise VersionNotFound(f"model {name!r} has no versions yet")
    return load_versions(conn, name, model_id, [row])[0]


def touch(conn: Connection, model_id: int, when: datetime | None = None) -> None:
    """Record that the model (its tags, aliases or versions) changed."""
    conn.execute(sa.update(models).where(models.c.id == model_id).values(updated_at=when or now()))
