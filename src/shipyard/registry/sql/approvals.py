"""Approval requests of a version (tables ``approval_requests`` and ``approval_votes``).

A request (with a comment) asks approvers to approve one version; it expires after the
policy's ``approval_expiry_days`` unless the request names its own expiry. Approvers vote
``approve`` or ``reject``: one vote per (normalised) actor and request (a second is 409);
a rejection makes the request ``rejected`` (final); a request becomes ``approved`` once
its distinct approvers reach the tier's number. Under separation of duties the version's
registrant, admins included, may not approve it (``SeparationOfDuties``, 403). Every
change is an audit entry in its own transaction (``approval.request``, ``approval.approve``,
``approval.reject``). What the gate makes of it: :meth:`ApprovalStore.status`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, InvalidRequest, NotFound, SeparationOfDuties
from shipyard.governance.chain import AuditEvent
from shipyard.governance.policy import MAX_EXPIRY_DAYS, normalise_actor
from shipyard.registry.refs import check_model_name, parse_version
from shipyard.registry.sql import gate, queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.policies import current_in
from shipyard.registry.sql.tables import approval_requests, approval_votes, models

MAX_COMMENT_CHARS = 4096
STATUSES = (gate.PENDING, gate.APPROVED, gate.REJECTED, gate.EXPIRED)
DECISIONS = ("approve", "reject")


def check_comment(comment: Any, *, required: bool = False) -> str:
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise InvalidRequest("a comment is text")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidRequest(f"a comment is at most {MAX_COMMENT_CHARS} characters")
    if required and not comment.strip():
        raise InvalidRequest("an approval request needs a comment (what changed, why it should go out)")
    return comment


def check_expiry_days(days: Any) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidRequest(f"an expiry is a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
    return days


class ApprovalStore:
    """Request, list, approve and reject; the gate's status of a version."""

    def __init__(self, engine: Engine, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._hmac_key = hmac_key

    # -- asking -----------------------------------------------------------------------------
    def request(
        self,
        name: str,
        version: int,
        *,
        comment: str,
        expires_in_days: int | None = None,
        actor: str | None = None,
        source: str = "local",
    ) -> dict[str, Any]:
        """Open an approval request for ``name/version``; returns it (status ``pending``)."""
        check_model_name(name)
        number = parse_version(version)
        text = check_comment(comment, required=True)
        days = check_expiry_days(expires_in_days)
        who = actor or local_actor()

        def work(conn: Connection) -> dict[str, Any]:
            model_id = queries.model_row(conn, name)["id"]
            queries.version_row(conn, model_id, name, number)
            now = queries.now()
            expiry = days if days is not None else current_in(conn).policy.approval_expiry_days
            values = {
                "model_id": model_id,
                "version": number,
                "status": gate.PENDING,
                "requested_by": who,
                "comment": text,
                "created_at": now,
                "expires_at": now + timedelta(days=expiry),
            }
            request_id = conn.execute(
                sa.insert(approval_requests).values(**values).returning(approval_requests.c.id)
            ).scalar_one()
            details = {"request": request_id, "version": number, "expires_in_days": expiry}
            event = AuditEvent(who, source, "approval.request", f"{name}/{number}", reason=text, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return gate.request_dict({**values, "id": request_id, "decided_at": None}, name, [], now)

        return transactions.run(self._engine, work, write=True, what=f"requesting approval of {name}/{number}")

    # -- reading ----------------------------------------------------------------------------
    def get(self, request_id: int) -> dict[str, Any]:
        _check_id(request_id)

        def work(conn: Connection) -> dict[str, Any]:
            row, name = _request_row(conn, request_id)
            return gate.with_votes(conn, [row], {row["model_id"]: name}, queries.now())[0]

        return transactions.run(self._engine, work, write=False, what=f"reading approval request {request_id}")

    def list(
        self, *, name: str | None = None, version: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Requests, newest first; ``status`` as it stands now (``expired`` included)."""
        if name is not None:
            check_model_name(name)
        number = parse_version(version) if version is not None else None
        if version is not None and name is None:
            raise InvalidRequest("a version filter needs the model's name")
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status is one of {', '.join(STATUSES)}, got {str(status)[:20]!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidRequest("limit is from 1 to 1000")

        def work(conn: Connection) -> list[dict[str, Any]]:
            joined = approval_requests.join(models, models.c.id == approval_requests.c.model_id)
            query = sa.select(approval_requests, models.c.name.label("model_name")).select_from(joined)
            if name is not None:
                query = query.where(models.c.name == name)
                queries.model_row(conn, name)
            if number is not None:
                query = query.where(approval_requests.c.version == number)
            now = queries.now()
            if status == gate.EXPIRED:
                query = query.where(approval_requests.c.status != gate.REJECTED, approval_requests.c.expires_at <= now)
            elif status is not None:
                query = query.where(approval_requests.c.status == status)
                if status != gate.REJECTED:
                    query = query.where(approval_requests.c.expires_at > now)
            rows = list(conn.execute(query.order_by(approval_requests.c.id.desc()).limit(limit)).mappings())
            return gate.with_votes(conn, rows, {r["model_id"]: r["model_name"] for r in rows}, now)

        return transactions.run(self._engine, work, write=False, what="listing approval requests")

    def status(self, name: str, version: int, *, purpose: str = "alias:production") -> gate.GateStatus:
        """Where ``name/version`` stands for ``purpose`` (``alias:A`` or ``deployment:D``)."""
        check_model_name(name)
        number = parse_version(version)
        gate.check_purpose(purpose)
        return transactions.run(
            self._engine,
            lambda conn: gate.evaluate(conn, name, number, purpose),
            write=False,
            what=f"reading the approval status of {name}/{number}",
        )

    def require(self, name: str, version: int, *, purpose: str) -> gate.GateStatus:
        """:meth:`status`, raising ``PolicyRefused`` (what is missing) when not allowed."""
        found = self.status(name, version, purpose=purpose)
        if not found.allowed:
            raise found.refusal()
        return found

    # -- deciding ---------------------------------------------------------------------------
    def approve(
        self, request_id: int, *, comment: str = "", actor: str | None = None, source: str = "local"
    ) -> dict[str, Any]:
        return self._vote(request_id, "approve", comment, actor or local_actor(), source)

    def reject(
        self, request_id: int, *, comment: str = "", actor: str | None = None, source: str = "local"
    ) -> dict[str, Any]:
        return self._vote(request_id, "reject", comment, actor or local_actor(), source)

    def _vote(self, request_id: int, decision: str, comment: str, actor: str, source: str) -> dict[str, Any]:
        _check_id(request_id)
        text = check_comment(comment)
        who = normalise_actor(actor)

        def work(conn: Connection) -> dict[str, Any]:
            row, name = _request_row(conn, request_id)
            now = queries.now()
            state = gate.effective_status(row, now)
            if state in (gate.REJECTED, gate.EXPIRED):
                raise Conflict(
                    f"approval request {request_id} is {state}: it takes no more votes",
                    hint=f"ask again: shipyard approvals request {name}/{row['version']} -m TEXT",
                )
            model_row = queries.model_row(conn, name)
            version_row = queries.version_row(conn, model_row["id"], name, int(row["version"]))
            policy = current_in(conn).policy
            tier = gate.effective_tier(model_row, policy)
            needs = policy.requirements(tier)
            registrant = normalise_actor(str(version_row["created_by"]))
            if decision == "approve" and needs.separation_of_duties and who == registrant:
                raise SeparationOfDuties(
                    f"{actor} registered {name}/{row['version']} and may not approve it (separation of duties, "
                    f"tier {tier})",
                    hint="another approver must approve it",
                )
            earlier = conn.execute(
                sa.select(approval_votes.c.decision).where(
                    approval_votes.c.request_id == request_id, approval_votes.c.actor == who
                )
            ).scalar()
            if earlier is not None:
                raise Conflict(f"{actor} voted on approval request {request_id} already ({earlier})")
            conn.execute(
                sa.insert(approval_votes).values(
                    request_id=request_id, actor=who, decision=decision, comment=text, at=now
                )
            )
            new_state = str(row["status"])
            if decision == "reject":
                new_state = gate.REJECTED
            else:
                voters = conn.execute(
                    sa.select(approval_votes.c.actor).where(
                        approval_votes.c.request_id == request_id, approval_votes.c.decision == "approve"
                    )
                ).scalars()
                counted = {v for v in voters if not (needs.separation_of_duties and v == registrant)}
                if len(counted) >= max(1, needs.approvals):
                    new_state = gate.APPROVED
            if new_state != row["status"]:
                decided = now if new_state in (gate.APPROVED, gate.REJECTED) else None
                conn.execute(
                    sa.update(approval_requests)
                    .where(approval_requests.c.id == request_id)
                    .values(status=new_state, decided_at=decided)
                )
            details = {"request": request_id, "version": int(row["version"]), "tier": tier, "status": new_state}
            event = AuditEvent(
                actor, source, f"approval.{decision}", f"{name}/{row['version']}", reason=text or None, details=details
            )
            append_in(conn, event, hmac_key=self._hmac_key)
            fresh, _ = _request_row(conn, request_id)
            return gate.with_votes(conn, [fresh], {fresh["model_id"]: name}, now)[0]

        return transactions.run(self._engine, work, write=True, what=f"voting on approval request {request_id}")


def _check_id(request_id: Any) -> int:
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 1 <= request_id < 2**31:
        raise InvalidRequest("an approval request id is a positive whole number")
    return request_id


def _request_row(conn: Connection, request_id: int) -> tuple[Any, str]:
    joined = approval_requests.join(models, models.c.id == approval_requests.c.model_id)
    query = sa.select(approval_requests, models.c.name.label("model_name")).select_from(joined)
    row = conn.execute(query.where(approval_requests.c.id == request_id)).mappings().first()
    if row is None:
        raise NotFound(f"no approval request {request_id}")
    return row, str(row["model_name"])
