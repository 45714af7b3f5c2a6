"""Governance flags (table ``governance_flags``, migration 0009): what must be looked at
afterwards. An emergency rollback (of an alias or a deployment) is always allowed, and
leaves a flag of kind ``emergency_rollback`` written in the rollback's own transaction
(:func:`add_in`); an admin clears it with a note (audited ``flag.clear``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.governance.chain import AuditEvent
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.tables import governance_flags as flags_table

EMERGENCY_ROLLBACK = "emergency_rollback"
MAX_NOTE_CHARS = 4096


@dataclass(frozen=True)
class Flag:
    id: int
    kind: str
    target: str
    details: dict[str, Any]
    actor: str
    created_at: datetime
    cleared_by: str | None
    cleared_at: datetime | None
    note: str | None

    @property
    def open(self) -> bool:
        return self.cleared_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "details": self.details,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "open": self.open,
            "cleared_by": self.cleared_by,
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at is not None else None,
            "note": self.note,
        }


def add_in(conn: Connection, kind: str, target: str, details: dict[str, Any], *, actor: str) -> int:
    """Raise a flag inside the open write transaction ``conn``; returns its id."""
    values = {
        "kind": kind,
        "target": target[:200],
        "details": json.dumps(details, sort_keys=True, separators=(",", ":"), default=str),
        "actor": actor[:255],
        "created_at": queries.now(),
    }
    return int(conn.execute(sa.insert(flags_table).values(**values).returning(flags_table.c.id)).scalar_one())


class FlagStore:
    """List and clear governance flags; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    def list(self, *, include_cleared: bool = False, kind: str | None = None, limit: int = 100) -> list[Flag]:
        """Flags, newest first (open ones only unless ``include_cleared``)."""
        query = sa.select(flags_table)
        if not include_cleared:
            query = query.where(flags_table.c.cleared_at.is_(None))
        if kind is not None:
            query = query.where(flags_table.c.kind == kind)
        query = query.order_by(flags_table.c.id.desc()).limit(limit)

        def work(conn: Connection) -> list[Flag]:
            return [_flag(r) for r in conn.execute(query).mappings()]

        return transactions.run(self._engine, work, write=False, what="listing governance flags")

    def get(self, flag_id: int) -> Flag:
        def work(conn: Connection) -> Flag:
            row = conn.execute(sa.select(flags_table).where(flags_table.c.id == flag_id)).mappings().first()
            if row is None:
                raise NotFound(f"no governance flag {flag_id}")
            return _flag(row)

        return transactions.run(self._engine, work, write=False, what=f"reading flag {flag_id}")

    def clear(self, flag_id: int, *, note: str, actor: str | None = None, source: str = "local") -> Flag:
        """Mark flag ``flag_id`` reviewed, with ``note`` (what was found); audited ``flag.clear``."""
        if not isinstance(note, str) or not note.strip():
            raise InvalidRequest("clearing a flag needs a note (what the review found)", hint="--note TEXT")
        if len(note) > MAX_NOTE_CHARS:
            raise InvalidRequest(f"a note is at most {MAX_NOTE_CHARS} characters")
        who = actor or local_actor()

        def work(conn: Connection) -> Flag:
            row = conn.execute(sa.select(flags_table).where(flags_table.c.id == flag_id)).mappings().first()
            if row is None:
                raise NotFound(f"no governance flag {flag_id}")
            if row["cleared_at"] is not None:
                raise Conflict(f"flag {flag_id} was cleared already by {row['cleared_by']}")
            now = queries.now()
            changes = {"cleared_by": who, "cleared_at": now, "note": note}
            conn.execute(sa.update(flags_table).where(flags_table.c.id == flag_id).values(**changes))
            details = {"flag": flag_id, "kind": row["kind"], "target": row["target"]}
            append_in(conn, AuditEvent(who, source, "flag.clear", row["target"], reason=note, details=details),
                      hmac_key=self._hmac_key)  # fmt: skip
            return _flag({**row, **changes})

        return transactions.run(self._engine, work, write=True, what=f"clearing flag {flag_id}")


def _flag(row: Any) -> Flag:
    return Flag(
        id=int(row["id"]),
        kind=str(row["kind"]),
        target=str(row["target"]),
        details=json.loads(row["details"]),
        actor=str(row["actor"]),
        created_at=row["created_at"],
        cleared_by=row["cleared_by"],
        cleared_at=row["cleared_at"],
        note=row["note"],
    )
