"""The governance gate: what a version still lacks before it may take a protected alias or
deployment traffic beyond shadow, and the refusal that says so.

Everything runs inside the caller's open transaction, so the decision and the change it
guards commit together (``RegistryStore.set_alias`` calls :func:`enforce` in its write
transaction; ``rollout`` calls it through ``ApprovalStore.require``). The facts:

- the model's effective tier (``models.risk_tier``, else the policy's ``default_tier``);
- approvals: distinct normalised actors with an ``approve`` vote on a request of this
  version that is neither rejected nor expired; the registrant never counts where the tier
  asks for separation of duties;
- card fields, and the fairness report (the card field ``fairness``), from
  ``registry/sql/cards.card_gaps``;
- metrics from the version's lineage against the tier's thresholds;
- a review rule in the serving controls of the model (or of the deployment).

A purpose names what is asked: ``alias:production`` or ``deployment:NAME``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from shipyard.errors import InvalidRequest, PolicyRefused
from shipyard.governance.policy import Facts, Policy, missing, normalise_actor
from shipyard.registry.sql import cards, queries
from shipyard.registry.sql.policies import current_in
from shipyard.registry.sql.tables import approval_requests, approval_votes
from shipyard.registry.sql.tables import controls as controls_table

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
FAIRNESS_FIELD = "fairness"


@dataclass(frozen=True)
class GateStatus:
    """Where one version stands against the policy for one purpose."""

    model: str
    version: int
    purpose: str
    tier: str
    policy_revision: int
    required: dict[str, Any]
    registrant: str
    approvals: list[dict[str, Any]] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "purpose": self.purpose,
            "tier": self.tier,
            "policy_revision": self.policy_revision,
            "required": self.required,
            "registrant": self.registrant,
            "approvals": self.approvals,
            "approvers": self.approvers,
            "missing": self.missing,
            "allowed": self.allowed,
        }

    def refusal(self) -> PolicyRefused:
        what = self.purpose.partition(":")
        target = f"{self.model}@{what[2]}" if what[0] == "alias" else f"deployment {what[2]!r} (traffic beyond shadow)"
        return PolicyRefused(
            f"{self.model}/{self.version} (tier {self.tier}) cannot take {target}: missing: {'; '.join(self.missing)}",
            hint=f"`shipyard approvals list {self.model}/{self.version}` shows its approvals; "
            "`shipyard policy show` the requirements",
            missing=list(self.missing),
            tier=self.tier,
        )


def check_purpose(purpose: str) -> str:
    kind, _, name = purpose.partition(":")
    if kind not in ("alias", "deployment") or not name or len(purpose) > 200:
        raise InvalidRequest(f"a gate purpose is alias:NAME or deployment:NAME, got {purpose[:60]!r}")
    return purpose


def effective_tier(model_row: RowMapping | Mapping[str, Any], policy: Policy) -> str:
    tier = model_row.get("risk_tier")
    return str(tier) if tier else policy.default_tier


def effective_status(row: Mapping[str, Any], now: datetime) -> str:
    """A request's status as it stands now (``expired`` once past its expiry, unless rejected)."""
    status = str(row["status"])
    expires = row["expires_at"]
    if status != REJECTED and expires is not None and expires <= now:
        return EXPIRED
    return status


def requests_in(conn: Connection, model_id: int, version: int, *, model: str, now: datetime) -> list[dict[str, Any]]:
    """Every approval request of one version with its votes, oldest first."""
    query = (
        sa.select(approval_requests)
        .where(approval_requests.c.model_id == model_id, approval_requests.c.version == version)
        .order_by(approval_requests.c.id)
    )
    rows = list(conn.execute(query).mappings())
    return with_votes(conn, rows, {model_id: model}, now)


def with_votes(
    conn: Connection, rows: list[RowMapping], names: Mapping[int, str], now: datetime
) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    votes: dict[int, list[dict[str, Any]]] = {}
    if ids:
        vote_q = sa.select(approval_votes).where(approval_votes.c.request_id.in_(ids)).order_by(approval_votes.c.id)
        for vote in conn.execute(vote_q).mappings():
            votes.setdefault(vote["request_id"], []).append(
                {
                    "actor": vote["actor"],
                    "decision": vote["decision"],
                    "comment": vote["comment"],
                    "at": vote["at"].isoformat(),
                }
            )
    return [request_dict(r, names.get(r["model_id"], "?"), votes.get(r["id"], []), now) for r in rows]


def request_dict(row: Any, model: str, votes: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "model": model,
        "version": int(row["version"]),
        "status": effective_status(row, now),
        "requested_by": row["requested_by"],
        "comment": row["comment"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] is not None else None,
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] is not None else None,
        "votes": votes,
    }


def counting_approvers(requests: list[dict[str, Any]], registrant: str, *, separation: bool) -> list[str]:
    """Distinct normalised actors that approved a live (not rejected, not expired) request;
    the registrant is left out under separation of duties."""
    own = normalise_actor(registrant)
    found: dict[str, None] = {}
    for request in requests:
        if request["status"] in (REJECTED, EXPIRED):
            continue
        for vote in request["votes"]:
            actor = normalise_actor(vote["actor"])
            if vote["decision"] == "approve" and not (separation and actor == own):
                found[actor] = None
    return list(found)


def has_review_rule(conn: Connection, targets: list[str]) -> bool:
    rows = conn.execute(sa.select(controls_table.c.document).where(controls_table.c.target.in_(targets)))
    for (document,) in rows:
        review = json.loads(document).get("review")
        if isinstance(review, Mapping) and review.get("rules"):
            return True
    return False


def evaluate(conn: Connection, name: str, number: int, purpose: str, *, policy: Policy | None = None) -> GateStatus:
    """Where ``name/number`` stands for ``purpose``, read in ``conn``."""
    check_purpose(purpose)
    stored = current_in(conn)
    chosen = policy or stored.policy
    model_row = queries.model_row(conn, name)
    version_row = queries.version_row(conn, model_row["id"], name, number)
    tier = effective_tier(model_row, chosen)
    needs = chosen.requirements(tier)
    registrant = str(version_row["created_by"])
    requests = requests_in(conn, model_row["id"], number, model=name, now=queries.now())
    approvers = counting_approvers(requests, registrant, separation=needs.separation_of_duties)
    wanted = list(needs.card_fields)
    if needs.fairness_report:
        wanted.append(FAIRNESS_FIELD)
    gaps = cards.card_gaps(conn, model_row["id"], number, wanted) if wanted else []
    targets = [name]
    kind, _, target = purpose.partition(":")
    if kind == "deployment":
        targets.append(target)
    facts = Facts(
        approvers=approvers,
        card_gaps=[g for g in gaps if g != FAIRNESS_FIELD],
        metrics=_metrics(version_row),
        fairness_report=FAIRNESS_FIELD not in gaps,
        review_rule=has_review_rule(conn, targets) if needs.review_rule else False,
    )
    return GateStatus(
        model=name,
        version=number,
        purpose=purpose,
        tier=tier,
        policy_revision=stored.revision if policy is None else -1,
        required=needs.to_dict(),
        registrant=registrant,
        approvals=requests,
        approvers=approvers,
        missing=missing(needs, facts),
    )


def enforce(conn: Connection, name: str, number: int, purpose: str) -> GateStatus:
    """:func:`evaluate`, raising ``PolicyRefused`` (what is missing) when not allowed."""
    status = evaluate(conn, name, number, purpose)
    if not status.allowed:
        raise status.refusal()
    return status


def _metrics(version_row: RowMapping) -> dict[str, float]:
    try:
        lineage = json.loads(version_row["lineage_json"] or "{}")
    except ValueError:
        return {}
    found = lineage.get("metrics") if isinstance(lineage, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}
