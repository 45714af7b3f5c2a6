"""The audit trail in the registry database (table ``audit_log``), one hash chain.

Appending is serialised: the entry's ``seq`` is ``max(seq) + 1`` and its ``prev_hash`` the
hash of that last entry, both read inside the writing transaction. On SQLite the write
transaction began IMMEDIATE, so it holds the only write lock already; on PostgreSQL a
transaction-scoped advisory lock queues appenders (``seq`` being the primary key stays as
the last guard). ``append_in`` runs inside a caller's transaction, so that a registration
or an alias move and its audit entry commit together or not at all.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from shipyard.governance.chain import GENESIS, AuditEntry, AuditEvent, ChainReport, seal, verify
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.tables import audit_log
from shipyard.registry.types import ModelVersion

PAGE = 1000
_PG_LOCK_ID = 0x5348_4950_4155_4454 & 0x7FFF_FFFF_FFFF_FFFF  # "SHIPAUDT": one lock for the trail
_LIMITS = {"actor": 255, "source": 255, "action": 64, "resource": 512}


@dataclass(frozen=True)
class AuditFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    resource: str | None = None
    after_seq: int | None = None
    limit: int | None = 100


def append_in(conn: Connection, event: AuditEvent, *, hmac_key: bytes | None = None) -> AuditEntry:
    """Append ``event`` inside the open write transaction ``conn``; returns the sealed entry."""
    event = _clipped(event)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    last = conn.execute(sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)).first()
    seq, prev_hash = (1, GENESIS) if last is None else (int(last.seq) + 1, str(last.hash))
    entry = seal(seq, queries.now(), event, prev_hash, hmac_key)
    conn.execute(sa.insert(audit_log).values(**_row(entry)))
    return entry


class AuditLog:
    """Append to, read and verify the audit trail; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self.hmac_key = hmac_key

    def append(self, event: AuditEvent) -> AuditEntry:
        """Append ``event`` in a transaction of its own."""
        return transactions.run(
            self._engine,
            lambda conn: append_in(conn, event, hmac_key=self.hmac_key),
            write=True,
            retry_unique=True,
            what="writing the audit trail",
        )

    def list(self, filters: AuditFilter | None = None) -> list[AuditEntry]:
        """Entries matching ``filters``, oldest first."""
        f = filters or AuditFilter()
        query = sa.select(audit_log)
        if f.since is not None:
            query = query.where(audit_log.c.at >= f.since)
        if f.until is not None:
            query = query.where(audit_log.c.at < f.until)
        if f.actor is not None:
            query = query.where(audit_log.c.actor == f.actor)
        if f.action is not None:
            query = query.where(audit_log.c.action == f.action)
        if f.resource is not None:
            query = query.where(audit_log.c.resource == f.resource)
        if f.after_seq is not None:
            query = query.where(audit_log.c.seq > f.after_seq)
        query = query.order_by(audit_log.c.seq)
        if f.limit is not None:
            query = query.limit(f.limit)

        def work(conn: Connection) -> list[AuditEntry]:
            return [_entry(r) for r in conn.execute(query).mappings()]

        return transactions.run(self._engine, work, write=False, what="reading the audit trail")

    def iter_all(self, *, page: int = PAGE) -> Iterator[AuditEntry]:
        """Every entry in seq order, read in pages (each its own short transaction)."""
        after = 0
        while True:
            batch = self.list(AuditFilter(after_seq=after, limit=page))
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].seq

    def verify(self, *, expect_head: tuple[int, str] | None = None) -> ChainReport:
        return verify(self.iter_all(), hmac_key=self.hmac_key, expect_head=expect_head)


def _clipped(event: AuditEvent) -> AuditEvent:
    """``event`` as it can be stored: fields cut to their columns, details plain JSON (so the
    hash computed now is the hash recomputed from the row later)."""
    values = {name: getattr(event, name)[:limit] for name, limit in _LIMITS.items()}
    details = json.loads(json.dumps(dict(event.details), sort_keys=True, default=str))
    return AuditEvent(
        values["actor"], values["source"], values["action"], values["resource"],
        event.outcome, event.reason, details,
    )  # fmt: skip


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "source": entry.source,
        "action": entry.action,
        "resource": entry.resource,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "details_json": json.dumps(dict(entry.details), sort_keys=True),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "mac": entry.mac,
    }


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        seq=int(row["seq"]),
        at=row["at"],
        actor=row["actor"],
        source=row["source"],
        action=row["action"],
        resource=row["resource"],
        outcome=row["outcome"],
        reason=row["reason"],
        details=json.loads(row["details_json"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        mac=row["mac"],
    )


def local_actor() -> str:
    """``user:<os user>``: who local CLI and SDK work is recorded as."""
    try:
        name = os.environ.get("SHIPYARD_USER") or getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"user:{name}"


def registration_events(version: ModelVersion, *, actor: str, source: str, reason: str | None) -> list[AuditEvent]:
    """The entries a new version writes: its registration, and any trust it was given."""
    resource = version.ref
    events = [
        AuditEvent(
            actor,
            source,
            "version.register",
            resource,
            reason=reason,
            details={"flavor": version.flavor, "sha256": version.artifact.sha256, "size": version.artifact.size},
        )
    ]
    if version.unsafe_format or version.trust_code or version.trusted_types:
        trusted = {
            "trust_pickle": version.unsafe_format,
            "trust_code": version.trust_code,
            "trusted_types": list(version.trusted_types),
        }
        events.append(AuditEvent(actor, source, "trust.grant", resource, reason=reason, details=trusted))
    return events
