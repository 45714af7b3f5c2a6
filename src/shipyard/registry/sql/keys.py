"""API keys in the registry database (table ``api_keys``): never the secret, only its hash.

Creating and revoking a key write their audit entry in the same transaction, so a key never
exists without the record of who made it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from shipyard.errors import Conflict, NotFound
from shipyard.governance.chain import AuditEvent
from shipyard.governance.keys import (
    KeyRecord,
    check_key_name,
    grants_from_json,
    grants_to_json,
    hash_secret,
    new_key,
)
from shipyard.governance.scopes import KEYS_ADMIN, Grant
from shipyard.registry.sql import audit as audit_sql
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.rows import check_short_text
from shipyard.registry.sql.tables import api_keys


class KeyStore:
    """Create, read, list and revoke API keys; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    def create(
        self,
        name: str,
        grants: tuple[Grant, ...],
        *,
        expires_at: datetime | None = None,
        created_by: str,
        source: str = "local",
    ) -> tuple[KeyRecord, str]:
        """A new key and its token; the token is returned here once and stored nowhere."""
        check_key_name(name)
        check_short_text("created_by", created_by)
        key_id, secret, token = new_key()
        now = queries.now()
        values: dict[str, Any] = {
            "id": key_id,
            "name": name,
            "grants_json": json.dumps(grants_to_json(grants)),
            "created_at": now,
            "created_by": created_by,
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
            "secret_hash": hash_secret(secret),
        }
        event = AuditEvent(
            created_by, source, "key.create", f"key:{key_id}",
            details={
                "name": name,
                "grants": grants_to_json(grants),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )  # fmt: skip

        def work(conn: Connection) -> KeyRecord:
            conn.execute(sa.insert(api_keys).values(**values))
            audit_sql.append_in(conn, event, hmac_key=self._hmac_key)
            return _record(conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().one())

        record = transactions.run(self._engine, work, write=True, what=f"creating key {name!r}")
        return record, token

    def get(self, key_id: str) -> KeyRecord | None:
        def work(conn: Connection) -> KeyRecord | None:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
            return None if row is None else _record(row)

        return transactions.run(self._engine, work, write=False, what="reading a key")

    def list(self) -> list[KeyRecord]:
        def work(conn: Connection) -> list[KeyRecord]:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)).mappings()
            return [_record(r) for r in rows]

        return transactions.run(self._engine, work, write=False, what="listing keys")

    def revoke(self, key_id: str, *, actor: str, source: str = "local", reason: str | None = None) -> KeyRecord:
        """Revoke a key (``NotFound`` if there is none; ``Conflict`` if it was revoked already)."""

        def work(conn: Connection) -> KeyRecord:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
            if row is None:
                raise NotFound(f"no API key with id {key_id[:12]!r}", hint="`shipyard keys list` shows the ids")
            if row["revoked_at"] is not None:
                raise Conflict(f"API key {key_id} was revoked already")
            conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=queries.now()))
            event = AuditEvent(
                actor, source, "key.revoke", f"key:{key_id}", reason=reason, details={"name": row["name"]}
            )
            audit_sql.append_in(conn, event, hmac_key=self._hmac_key)
            return _record(conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings().one())

        return transactions.run(self._engine, work, write=True, what=f"revoking key {key_id[:12]!r}")

    def touch_last_used(self, key_id: str, when: datetime) -> None:
        def work(conn: Connection) -> None:
            conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=when))

        transactions.run(self._engine, work, write=True, what="recording a key's use")

    def has_admin_key(self) -> bool:
        """Whether an active (not revoked, not expired) key can administer keys."""
        now = queries.now()
        return any(r.state(now) == "active" and any(g.covers(KEYS_ADMIN) for g in r.grants) for r in self.list())


def _record(row: RowMapping) -> KeyRecord:
    return KeyRecord(
        id=row["id"],
        name=row["name"],
        grants=grants_from_json(json.loads(row["grants_json"])),
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        secret_hash=row["secret_hash"],
    )
