"""Retention and erasure in the registry database: feedback rows and review tickets.

``PrivacyStore`` (over the registry store's engine) deletes what a retention run or an
erasure names and appends the audit entry in the same transaction: ``privacy.retention``
(per target, the cutoff and the counts) and ``privacy.erase`` (the counts; the subject only
as its keyed HMAC, which also goes into ``erasures``). Nothing here ever sees a subject in
clear beyond the match itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.governance.chain import AuditEvent
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in
from shipyard.registry.sql.tables import erasures, feedback, review_tickets

_CHUNK = 500


@dataclass(frozen=True)
class ErasureRecord:
    id: int
    subject_hash: str
    actor: str
    requested_at: datetime
    counts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_hash": self.subject_hash,
            "actor": self.actor,
            "requested_at": self.requested_at.isoformat(),
            "counts": self.counts,
        }


class PrivacyStore:
    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    # -- retention -----------------------------------------------------------------------

    def count_older(self, target: str, before: datetime) -> dict[str, int]:
        """Feedback rows and review tickets of ``target`` older than ``before`` (a dry run)."""

        def work(conn: Connection) -> dict[str, int]:
            return {
                "feedback": _count(conn, feedback, _feedback_older(target, before)),
                "reviews": _count(conn, review_tickets, _tickets_older(target, before)),
            }

        return transactions.run(self._engine, work, write=False, what=f"counting old data of {target!r}")

    def purge(
        self,
        target: str,
        before: datetime,
        *,
        days: int,
        log_rows: int,
        actor: str,
        source: str = "local",
    ) -> dict[str, int]:
        """Delete ``target``'s feedback (by prediction time) and review tickets (by creation)
        older than ``before``; audited ``privacy.retention`` with the counts (``log_rows``:
        what the prediction log dropped, for the same entry)."""

        def work(conn: Connection) -> dict[str, int]:
            counts = {
                "log_rows": log_rows,
                "feedback": int(conn.execute(sa.delete(feedback).where(_feedback_older(target, before))).rowcount),
                "reviews": int(conn.execute(sa.delete(review_tickets).where(_tickets_older(target, before))).rowcount),
            }
            if any(counts.values()):
                details = {"retention_days": days, "before": before.isoformat(), **counts}
                event = AuditEvent(actor, source, "privacy.retention", target, details=details)
                append_in(conn, event, hmac_key=self._hmac_key)
            return counts

        return transactions.run(self._engine, work, write=True, what=f"purging old data of {target!r}")

    # -- erasure ---------------------------------------------------------------------------

    def erase(
        self,
        *,
        subject_hash: str,
        kind: str,
        field: str | None,
        keys: Collection[str] = (),
        request_ids: Collection[str] = (),
        attribute_match: Callable[[Any], bool] | None = None,
        log_rows: int = 0,
        dry_run: bool = False,
        actor: str,
        source: str = "local",
        reason: str | None = None,
    ) -> dict[str, int]:
        """Delete the feedback and review tickets of a subject: rows whose prediction key is
        one of ``keys``, rows of ``request_ids`` (the log rows erased), and (for a field)
        attribute facts named ``field`` whose value ``attribute_match`` accepts. Records the
        erasure (``erasures``) and audits ``privacy.erase`` in the same transaction."""

        def work(conn: Connection) -> dict[str, int]:
            ids = set(request_ids)
            fact_ids: set[int] = set()
            if keys:
                fact_ids |= _ids(conn, feedback, feedback.c.key.in_(list(keys)))
            for chunk in _chunks(sorted(ids)):
                fact_ids |= _ids(conn, feedback, feedback.c.request_id.in_(chunk))
            if field is not None and attribute_match is not None:
                rows = conn.execute(
                    sa.select(feedback.c.id, feedback.c.value_json).where(
                        feedback.c.kind == "attribute", feedback.c.name == field
                    )
                ).all()
                fact_ids |= {int(r.id) for r in rows if attribute_match(orjson.loads(r.value_json))}
            ticket_ids: set[str] = set()
            if keys:
                ticket_ids |= _ticket_ids(conn, review_tickets.c.key.in_(list(keys)))
            for chunk in _chunks(sorted(ids)):
                ticket_ids |= _ticket_ids(conn, review_tickets.c.request_id.in_(chunk))
            counts = {"log_rows": log_rows, "feedback": len(fact_ids), "reviews": len(ticket_ids)}
            if dry_run:
                return counts
            for chunk in _chunks(sorted(fact_ids)):
                conn.execute(sa.delete(feedback).where(feedback.c.id.in_(chunk)))
            for chunk in _chunks(sorted(ticket_ids)):
                conn.execute(sa.delete(review_tickets).where(review_tickets.c.id.in_(chunk)))
            stored = {"kind": kind, "field": field, **counts}
            conn.execute(
                sa.insert(erasures).values(
                    subject_hash=subject_hash,
                    actor=actor[:255],
                    requested_at=queries.now(),
                    counts=json.dumps(stored, sort_keys=True),
                )
            )
            details = {"subject_hash": subject_hash, "kind": kind, "field": field, **counts}
            event = AuditEvent(actor, source, "privacy.erase", f"subject:{subject_hash[:16]}", reason=reason,
                               details=details)  # fmt: skip
            append_in(conn, event, hmac_key=self._hmac_key)
            return counts

        return transactions.run(self._engine, work, write=not dry_run, what="erasing a subject")

    def erasures(self, limit: int = 100) -> list[ErasureRecord]:
        def work(conn: Connection) -> list[ErasureRecord]:
            rows = conn.execute(sa.select(erasures).order_by(erasures.c.id.desc()).limit(limit)).mappings().all()
            return [
                ErasureRecord(
                    int(r["id"]), str(r["subject_hash"]), str(r["actor"]), r["requested_at"], json.loads(r["counts"])
                )
                for r in rows
            ]

        return transactions.run(self._engine, work, write=False, what="reading erasures")


def _feedback_older(target: str, before: datetime) -> Any:
    return sa.and_(feedback.c.target == target, feedback.c.predicted_at < before)


def _tickets_older(target: str, before: datetime) -> Any:
    return sa.and_(review_tickets.c.target == target, review_tickets.c.created_at < before)


def _count(conn: Connection, table: sa.Table, where: Any) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar() or 0)


def _ids(conn: Connection, table: sa.Table, where: Any) -> set[int]:
    return {int(r[0]) for r in conn.execute(sa.select(table.c.id).where(where)).all()}


def _ticket_ids(conn: Connection, where: Any) -> set[str]:
    return {str(r[0]) for r in conn.execute(sa.select(review_tickets.c.id).where(where)).all()}


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
