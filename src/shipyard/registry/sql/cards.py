"""Model card revisions in the registry (table ``model_cards``, migration 0009).

Each revision of a version's card is one row holding the whole narrative as of that
revision (``{"fields": {...}, "fairness": {...} | null}`` as JSON text), numbered from 1 per
version; nothing is ever updated or deleted, so every revision stays readable. Each change
appends a ``card.edit`` (or ``card.fairness``) audit entry in the same transaction, naming
the changed fields, never their text.

``card_gaps`` is what the approval gate (``registry/sql/gate.py``) asks inside its own
transaction: which of a tier's required card fields a version still lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from shipyard.errors import InvalidRequest, NotFound, VersionNotFound
from shipyard.governance.chain import AuditEvent
from shipyard.registry.card_fields import check_fairness, check_narrative, gaps, has_control, narrative_names
from shipyard.registry.refs import check_model_name, parse_version
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.policies import current_in
from shipyard.registry.sql.rows import check_description, decode_json, encode_json
from shipyard.registry.sql.tables import model_cards, model_versions, models
from shipyard.registry.types import Lineage

T = TypeVar("T")
MAX_REASON = 2000


@dataclass(frozen=True)
class CardRevision:
    """One revision of a version's card narrative (revision 0: nothing written yet)."""

    model: str
    version: int
    revision: int
    fields: Mapping[str, str] = field(default_factory=dict)
    fairness: Mapping[str, Any] | None = None
    actor: str | None = None
    created_at: datetime | None = None
    changed: tuple[str, ...] = ()
    """The fields this revision changed from the one before it."""
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "revision": self.revision,
            "fields": dict(self.fields),
            "fairness": dict(self.fairness) if self.fairness is not None else None,
            "actor": self.actor,
            "created_at": self.created_at.isoformat() if self.created_at is not None else None,
            "changed": list(self.changed),
            "reason": self.reason,
        }


def card_gaps(conn: Connection, model_id: int, version: int, required: Sequence[str]) -> list[str]:
    """The fields of ``required`` that version ``version`` of model ``model_id`` lacks on its card.

    Runs inside the caller's transaction (the gate's); a field counts as present when its
    latest narrative text is not blank or the registry knows it (``registry/card_fields.py``).
    ``VersionNotFound`` if there is no such version.
    """
    if not required:
        return []
    lineage_json = conn.execute(
        sa.select(model_versions.c.lineage_json).where(
            model_versions.c.model_id == model_id, model_versions.c.version == version
        )
    ).scalar()
    if lineage_json is None:
        raise VersionNotFound(f"model #{model_id} has no version {version}")
    owner = conn.execute(sa.select(models.c.owner).where(models.c.id == model_id)).scalar() or ""
    lineage = Lineage.from_dict(decode_json("lineage", lineage_json))
    row = _latest_row(conn, model_id, version)
    narrative, fairness = _document(row) if row is not None else ({}, None)
    return gaps(list(required), owner=str(owner), lineage=lineage, narrative=narrative, fairness=fairness)


class CardStore:
    """Read and revise model cards; shares the registry store's engine."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    def latest(self, name: str, version: int) -> CardRevision:
        """The newest revision of ``name/version``'s card (revision 0 when none was written)."""
        number = _checked(name, version)

        def work(conn: Connection) -> CardRevision:
            model_id = _version_id(conn, name, number)
            row = _latest_row(conn, model_id, number)
            return CardRevision(name, number, 0) if row is None else _revision(name, number, row)

        return self._read(work, f"reading the card of {name}/{number}")

    def get(self, name: str, version: int, revision: int) -> CardRevision:
        """Revision ``revision`` of the card; ``NotFound`` if there is no such revision."""
        number = _checked(name, version)
        wanted = parse_version(revision)

        def work(conn: Connection) -> CardRevision:
            for item in self._history_in(conn, name, number):
                if item.revision == wanted:
                    return item
            raise NotFound(f"the card of {name}/{number} has no revision {wanted}")

        return self._read(work, f"reading the card of {name}/{number}")

    def history(self, name: str, version: int) -> list[CardRevision]:
        """Every revision of ``name/version``'s card, oldest first, each with what it changed."""
        number = _checked(name, version)
        return self._read(lambda conn: self._history_in(conn, name, number), f"reading card history of {name}")

    def edit(
        self,
        name: str,
        version: int,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> CardRevision:
        """Set narrative fields (an empty string clears one) as the next revision, audited
        ``card.edit``; when nothing changes, no revision is written and the latest is returned
        with ``changed`` empty."""
        number = _checked(name, version)
        clean = check_narrative(changes, self._policy_fields())
        _check_reason(reason)

        def apply(fields: dict[str, str], fairness: dict[str, Any] | None) -> tuple[dict[str, str], Any, list[str]]:
            changed = [k for k, v in clean.items() if fields.get(k, "") != v]
            for key in changed:
                if clean[key]:
                    fields[key] = clean[key]
                else:
                    fields.pop(key, None)
            return fields, fairness, changed

        return self._revise(name, number, apply, action="card.edit", actor=actor, source=source, reason=reason)

    def record_fairness(
        self,
        name: str,
        version: int,
        figures: Mapping[str, Any],
        *,
        actor: str | None = None,
        source: str = "local",
        reason: str | None = None,
    ) -> CardRevision:
        """Store fairness figures on the card as the next revision, audited ``card.fairness``."""
        number = _checked(name, version)
        report = check_fairness(figures)
        encode_json("fairness figures", report)
        _check_reason(reason)

        def apply(fields: dict[str, str], fairness: dict[str, Any] | None) -> tuple[dict[str, str], Any, list[str]]:
            return fields, report, ["fairness"]

        return self._revise(name, number, apply, action="card.fairness", actor=actor, source=source, reason=reason)

    def narrative_names(self) -> tuple[str, ...]:
        """The fields ``edit`` takes: the narrative fields and any other the policy requires."""
        return narrative_names(self._policy_fields())

    def _policy_fields(self) -> list[str]:
        policy = self._read(current_in, "reading the governance policy").policy
        return [f for tier in policy.tiers.values() for f in tier.card_fields]

    # -- inside a transaction -------------------------------------------------------------

    def _revise(
        self,
        name: str,
        number: int,
        apply: Callable[[dict[str, str], dict[str, Any] | None], tuple[dict[str, str], Any, list[str]]],
        *,
        action: str,
        actor: str | None,
        source: str,
        reason: str | None,
    ) -> CardRevision:
        who = actor or local_actor()

        def work(conn: Connection) -> CardRevision:
            model_id = _version_id(conn, name, number, for_update=True)
            row = _latest_row(conn, model_id, number)
            before, fairness_before = _document(row) if row is not None else ({}, None)
            fields, fairness, changed = apply(dict(before), fairness_before)
            if not changed:  # this call changed nothing: the latest revision, with nothing changed
                return replace(
                    CardRevision(name, number, 0) if row is None else _revision(name, number, row), changed=()
                )
            revision = (int(row["revision"]) if row is not None else 0) + 1
            now = queries.now()
            text = encode_json("card", {"fields": fields, "fairness": fairness, "changed": changed, "reason": reason})
            conn.execute(
                sa.insert(model_cards).values(
                    model_id=model_id, version=number, revision=revision, fields=text, actor=who, created_at=now
                )
            )
            details = {"revision": revision, "fields": changed}
            event = AuditEvent(who, source, action, f"{name}/{number}", reason=reason, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return CardRevision(name, number, revision, fields, fairness, who, now, tuple(changed), reason)

        return transactions.run(
            self._engine, work, write=True, retry_unique=True, what=f"editing the card of {name}/{number}"
        )

    def _history_in(self, conn: Connection, name: str, number: int) -> list[CardRevision]:
        model_id = _version_id(conn, name, number)
        query = (
            sa.select(model_cards)
            .where(model_cards.c.model_id == model_id, model_cards.c.version == number)
            .order_by(model_cards.c.revision)
        )
        return [_revision(name, number, row) for row in conn.execute(query).mappings()]

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)


def _checked(name: str, version: int) -> int:
    check_model_name(name)
    return parse_version(version)


def _check_reason(reason: str | None) -> None:
    if reason is not None:
        check_description(reason)
        if has_control(reason):
            raise InvalidRequest("the reason contains a control character")
        if len(reason) > MAX_REASON:
            raise InvalidRequest(f"the reason is longer than {MAX_REASON} characters")


def _version_id(conn: Connection, name: str, number: int, *, for_update: bool = False) -> int:
    """The model's id, after checking that ``name/number`` exists."""
    model_id = int(queries.model_row(conn, name, for_update=for_update)["id"])
    queries.version_row(conn, model_id, name, number)
    return model_id


def _latest_row(conn: Connection, model_id: int, version: int) -> RowMapping | None:
    query = (
        sa.select(model_cards)
        .where(model_cards.c.model_id == model_id, model_cards.c.version == version)
        .order_by(model_cards.c.revision.desc())
        .limit(1)
    )
    return conn.execute(query).mappings().first()


def _document(row: RowMapping) -> tuple[dict[str, str], dict[str, Any] | None]:
    doc = decode_json("model card", row["fields"])
    if not isinstance(doc, dict):
        return {}, None
    fields = doc.get("fields") or {}
    fairness = doc.get("fairness")
    return (
        {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
        fairness if isinstance(fairness, dict) else None,
    )


def _revision(name: str, number: int, row: RowMapping) -> CardRevision:
    fields, fairness = _document(row)
    doc = decode_json("model card", row["fields"])
    doc = doc if isinstance(doc, dict) else {}
    changed = doc.get("changed")
    reason = doc.get("reason")
    return CardRevision(
        name,
        number,
        int(row["revision"]),
        fields,
        fairness,
        str(row["actor"]),
        row["created_at"],
        tuple(str(c) for c in changed) if isinstance(changed, list) else (),
        reason if isinstance(reason, str) else None,
    )
