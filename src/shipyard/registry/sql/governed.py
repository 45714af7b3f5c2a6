"""The governed changes of a model, each inside the caller's write transaction: its risk
tier (set by an admin, or once at registration), the gate on a protected alias or on an
alias a live deployment sends traffic through, and the emergency rollback of an alias.

``RegistryStore`` calls these from its own methods so that the decision, the change and
its audit entry commit together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from shipyard.errors import Forbidden, InvalidRequest
from shipyard.governance.chain import AuditEvent
from shipyard.governance.policy import check_tier
from shipyard.registry.sql import flags, gate, queries
from shipyard.registry.sql.audit import append_in
from shipyard.registry.sql.policies import current_in
from shipyard.registry.sql.tables import audit_log, deployment_revisions, deployments, models

ALIAS_ACTIONS = ("alias.set", "alias.rollback")


def set_tier_in(
    conn: Connection, name: str, tier: str, *, actor: str, source: str, reason: str | None, hmac_key: bytes | None
) -> str | None:
    """Set ``name``'s tier (audited ``model.tier``); returns the tier it had (None: the default)."""
    check_tier(tier)
    row = queries.model_row(conn, name, for_update=True)
    before = row["risk_tier"]
    conn.execute(sa.update(models).where(models.c.id == row["id"]).values(risk_tier=tier, updated_at=queries.now()))
    details = {"tier": tier, "previous": before}
    append_in(conn, AuditEvent(actor, source, "model.tier", name, reason=reason, details=details), hmac_key=hmac_key)
    return str(before) if before is not None else None


def tier_at_registration(
    conn: Connection, row: RowMapping, tier: str, *, has_versions: bool, actor: str, source: str,
    hmac_key: bytes | None,
) -> None:  # fmt: skip
    """A registration naming ``tier``: set it on a new model (no version yet); on an existing
    one it must be the tier in force, since only an admin changes a tier."""
    check_tier(tier)
    current = row["risk_tier"]
    if not has_versions and current is None:
        set_tier_in(conn, str(row["name"]), tier, actor=actor, source=source, reason="tier at registration",
                    hmac_key=hmac_key)  # fmt: skip
        return
    effective = gate.effective_tier(row, current_in(conn).policy)
    if tier != effective:
        raise Forbidden(
            f"model {row['name']!r} is tier {effective}: a registration cannot change it to {tier} "
            "(an admin changes tiers)",
            hint=f"an admin changes tiers: shipyard models tier {row['name']} {tier}",
        )


def gate_alias(conn: Connection, name: str, alias: str, number: int) -> None:
    """Refuse (``PolicyRefused``) moving ``name@alias`` to ``number`` when the alias is protected
    and the version lacks something, or when a live deployment gives the alias traffic."""
    policy = current_in(conn).policy
    if policy.protects(alias):
        gate.enforce(conn, name, number, f"alias:{alias}")
    for deployment in deployments_with_traffic_on(conn, f"{name}@{alias}"):
        gate.enforce(conn, name, number, f"deployment:{deployment}")


def deployments_with_traffic_on(conn: Connection, ref: str) -> list[str]:
    """The live deployments whose current spec sends traffic (beyond shadow) to ``ref``."""
    joined = deployments.join(
        deployment_revisions,
        sa.and_(
            deployment_revisions.c.deployment_id == deployments.c.id,
            deployment_revisions.c.revision == deployments.c.current_revision,
        ),
    )
    query = sa.select(deployments.c.name, deployment_revisions.c.spec_json).select_from(joined)
    found = []
    for row in conn.execute(query.where(deployments.c.state != "deleted")):
        if ref in traffic_refs(json.loads(row.spec_json)):
            found.append(str(row.name))
    return found


def traffic_refs(spec: Mapping[str, Any]) -> list[str]:
    """The model references of a spec's variants that answer requests (not shadows, not at 0%)."""
    variants = spec.get("variants") or {}
    canary_total = sum(float(v.get("weight") or 0) for v in variants.values() if v.get("role") == "canary")
    out = []
    for variant in variants.values():
        role, weight = variant.get("role"), float(variant.get("weight") or 0)
        if (role == "primary" and canary_total < 100) or (role in ("canary", "arm") and weight > 0):
            out.append(str(variant.get("model")))
    return out


def previous_version(conn: Connection, name: str, alias: str) -> int | None:
    """The version ``name@alias`` pointed at before its last move (from the audit trail)."""
    query = (
        sa.select(audit_log.c.details_json)
        .where(audit_log.c.resource == f"{name}@{alias}", audit_log.c.action.in_(ALIAS_ACTIONS))
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    )
    text = conn.execute(query).scalar()
    if text is None:
        return None
    previous = json.loads(text).get("previous")
    return int(previous) if isinstance(previous, int) else None


def rollback_target(conn: Connection, name: str, alias: str, current: int | None, to: int | None) -> int:
    if to is not None:
        if to == current:
            raise InvalidRequest(f"{name}@{alias} is at version {to} already")
        return to
    previous = previous_version(conn, name, alias)
    if previous is None or previous == current:
        raise InvalidRequest(
            f"{name}@{alias} has no earlier version recorded to roll back to",
            hint=f"name it: shipyard models rollback {name}@{alias} --to VERSION",
        )
    return previous


def flag_emergency(conn: Connection, target: str, details: dict[str, Any], *, actor: str) -> int:
    """The ``emergency_rollback`` flag of a rollback, in its transaction."""
    return flags.add_in(conn, flags.EMERGENCY_ROLLBACK, target, details, actor=actor)


TransactionStep = Callable[[Connection], Mapping[str, Any]]


def emergency_hook(target: str, details: dict[str, Any], *, actor: str) -> TransactionStep:
    """A step for a rollback's transaction that raises its flag; returns the audit details to add."""

    def step(conn: Connection) -> Mapping[str, Any]:
        return {"emergency": True, "flag": flag_emergency(conn, target, details, actor=actor)}

    return step
