"""The governance policy in the registry (table ``governance_policies``, migration 0009).

Every change is a new revision (the text as written, and its checked document as canonical
JSON); the highest revision is in force. With none stored, the default policy
(``governance/policy.DEFAULT_POLICY_TEXT``) is, as revision 0. Each change appends a
``policy.set`` audit entry in the same transaction. Who may change it is the edge's
business (``governance.admin``); the store only checks the text.
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
from shipyard.governance.policy import DEFAULT_POLICY, DEFAULT_POLICY_TEXT, Policy, parse_policy, policy_from_document
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.tables import governance_policies as policies_table

HISTORY_LIMIT = 1000


@dataclass(frozen=True)
class StoredPolicy:
    revision: int
    """0: the built-in default (nothing stored yet)."""
    text: str
    policy: Policy
    actor: str | None
    created_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "default": self.revision == 0,
            "text": self.text,
            "policy": self.policy.to_dict(),
            "actor": self.actor,
            "created_at": self.created_at.isoformat() if self.created_at is not None else None,
        }


DEFAULT = StoredPolicy(0, DEFAULT_POLICY_TEXT, DEFAULT_POLICY, None, None)


def current_in(conn: Connection) -> StoredPolicy:
    """The policy in force, read inside an open transaction."""
    row = conn.execute(sa.select(policies_table).order_by(policies_table.c.revision.desc()).limit(1)).mappings().first()
    return DEFAULT if row is None else _stored(row)


class PolicyStore:
    """Read and change the policy; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    def current(self) -> StoredPolicy:
        return transactions.run(self._engine, current_in, write=False, what="reading the governance policy")

    def revision(self, number: int) -> StoredPolicy:
        if number == 0:
            return DEFAULT

        def work(conn: Connection) -> StoredPolicy:
            row = conn.execute(sa.select(policies_table).where(policies_table.c.revision == number)).mappings().first()
            if row is None:
                raise NotFound(f"the policy has no revision {number}")
            return _stored(row)

        return transactions.run(self._engine, work, write=False, what=f"reading policy revision {number}")

    def history(self, *, limit: int = 100) -> list[StoredPolicy]:
        """Every stored revision, newest first (the default, revision 0, last)."""

        def work(conn: Connection) -> list[StoredPolicy]:
            query = sa.select(policies_table).order_by(policies_table.c.revision.desc()).limit(limit)
            return [_stored(r) for r in conn.execute(query).mappings()]

        found = transactions.run(self._engine, work, write=False, what="reading the policy history")
        return [*found, DEFAULT] if len(found) < limit else found

    def set(
        self, text: str | bytes, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> StoredPolicy:
        """Check ``text`` and store it as the next revision, audited (``policy.set``)."""
        policy = parse_policy(text)
        written = text.decode("utf-8") if isinstance(text, bytes) else text
        document = json.dumps(policy.to_dict(), sort_keys=True, separators=(",", ":"))
        who = actor or local_actor()

        def work(conn: Connection) -> StoredPolicy:
            now = queries.now()
            top = conn.execute(sa.select(sa.func.max(policies_table.c.revision))).scalar()
            revision = int(top or 0) + 1
            values = {"revision": revision, "text": written, "document": document, "actor": who, "created_at": now}
            conn.execute(sa.insert(policies_table).values(**values))
            details = {"revision": revision, "previous": int(top or 0), "policy": policy.to_dict()}
            event = AuditEvent(who, source, "policy.set", "policy", reason=reason, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return StoredPolicy(revision, written, policy, who, now)

        return transactions.run(self._engine, work, write=True, retry_unique=True, what="setting the policy")


def _stored(row: Any) -> StoredPolicy:
    source = f"stored policy revision {row['revision']}"
    return StoredPolicy(
        revision=int(row["revision"]),
        text=str(row["text"]),
        policy=policy_from_document(json.loads(row["document"]), source=source),
        actor=str(row["actor"]),
        created_at=row["created_at"],
    )
