"""Serving controls per target in the registry (table ``controls``, migration 0009).

One document per target (a model's name or a deployment's), as canonical JSON with a
revision that grows by one on each change; every change appends a ``controls.set`` (or
``controls.delete``) audit entry in the same transaction. Servers poll :meth:`ControlsStore.all`
(one query) and keep what they read until the revision moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import NotFound
from shipyard.governance.chain import AuditEvent
from shipyard.governance.controls import Controls, parse_controls
from shipyard.registry.refs import check_model_name
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.tables import controls as controls_table


@dataclass(frozen=True)
class StoredControls:
    target: str
    controls: Controls
    revision: int
    actor: str
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "revision": self.revision,
            "actor": self.actor,
            "updated_at": self.updated_at.isoformat(),
            "controls": self.controls.to_dict(),
        }


class ControlsStore:
    """Read and change the controls documents; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    def get(self, target: str) -> StoredControls | None:
        check_model_name(target)

        def work(conn: Connection) -> StoredControls | None:
            row = conn.execute(sa.select(controls_table).where(controls_table.c.target == target)).mappings().first()
            return None if row is None else _stored(row)

        return transactions.run(self._engine, work, write=False, what=f"reading the controls of {target!r}")

    def all(self) -> dict[str, StoredControls]:
        """Every target's controls, in one query (servers poll this)."""

        def work(conn: Connection) -> dict[str, StoredControls]:
            rows = conn.execute(sa.select(controls_table)).mappings().all()
            return {str(r["target"]): _stored(r) for r in rows}

        return transactions.run(self._engine, work, write=False, what="reading the serving controls")

    def set(
        self,
        target: str,
        document: Controls | dict[str, Any],
        *,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> StoredControls:
        """Replace ``target``'s controls (checked first); the next revision, audited."""
        check_model_name(target)
        parsed = document if isinstance(document, Controls) else parse_controls(document)
        text = json.dumps(parsed.to_dict(), sort_keys=True, separators=(",", ":"))
        who = actor or local_actor()

        def work(conn: Connection) -> StoredControls:
            now = queries.now()
            before = conn.execute(
                sa.select(controls_table.c.revision).where(controls_table.c.target == target)
            ).scalar()
            revision = int(before or 0) + 1
            values = {"document": text, "revision": revision, "actor": who, "updated_at": now}
            if before is None:
                conn.execute(sa.insert(controls_table).values(target=target, **values))
            else:
                conn.execute(sa.update(controls_table).where(controls_table.c.target == target).values(**values))
            event = AuditEvent(
                who, source, "controls.set", target, reason=reason, details={"revision": revision, "controls": text}
            )
            append_in(conn, event, hmac_key=self._hmac_key)
            return StoredControls(target, parsed, revision, who, now)

        return transactions.run(
            self._engine, work, write=True, retry_unique=True, what=f"setting the controls of {target!r}"
        )

    def delete(
        self, target: str, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> None:
        check_model_name(target)
        who = actor or local_actor()

        def work(conn: Connection) -> None:
            gone = conn.execute(sa.delete(controls_table).where(controls_table.c.target == target))
            if gone.rowcount == 0:
                raise NotFound(f"{target!r} has no controls")
            append_in(conn, AuditEvent(who, source, "controls.delete", target, reason=reason), hmac_key=self._hmac_key)

        transactions.run(self._engine, work, write=True, what=f"deleting the controls of {target!r}")


def _stored(row: Any) -> StoredControls:
    return StoredControls(
        target=str(row["target"]),
        controls=parse_controls(json.loads(row["document"]), source=f"stored controls of {row['target']}"),
        revision=int(row["revision"]),
        actor=str(row["actor"]),
        updated_at=row["updated_at"],
    )
