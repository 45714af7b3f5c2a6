"""The human review queue in the registry database (table ``review_tickets``, migration 0009).

The data plane opens a ticket for a held prediction (:meth:`ReviewStore.open`); reviewers
claim it (compare-and-set: ``pending → claimed``, or the same claimer again) and decide it
(approve the proposed outputs or override them); a ticket still open at its deadline
expires with the fallback answer (:meth:`ReviewStore.expire_due`, run by every server).
Each change is one transaction with its audit entry (``review.open``, ``review.claim``,
``review.decide``, ``review.expire``). A decision becomes feedback: the final ``predict``
of each row is recorded as its label (``store.feedback``), by the reviewer.

The ``decision`` column holds JSON: ``{"action", "outputs", "delivery"?}``; ``delivery``
tracks the webhook (attempts, last status, last error). ``notified_at`` is NULL until a
server's review worker takes the finished ticket (``take_finished``); while the ticket still
has a ``webhook`` it is a lease (the worker sending it holds it until then); once delivered,
or given up, ``webhook`` is cleared (the URL is not kept) and ``notified_at`` is the time.
"""

from __future__ import annotations

import builtins
import logging
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.governance.chain import AuditEvent
from shipyard.registry.refs import check_model_name
from shipyard.registry.review_types import (
    ACTIONS,
    OPEN_STATUSES,
    TICKET_STATUSES,
    NewTicket,
    Ticket,
)
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.audit import append_in, local_actor
from shipyard.registry.sql.feedback import Feedback, FeedbackStore, Prediction
from shipyard.registry.sql.tables import review_tickets as tickets

logger = logging.getLogger(__name__)

TICKET_PREFIX = "rv_"
_TICKET_ID = re.compile(r"^rv_[A-Za-z0-9_-]{24}$")
MAX_TIMEOUT_SECONDS = 30 * 86400.0
MAX_JSON_BYTES = 1 << 20
"""Inputs, proposed outputs, fallback or an override, each as JSON."""
MAX_COMMENT = 2000
MAX_REASONS = 32
MAX_LIST = 1000
DELIVERY_ATTEMPTS = 5


class TicketNotFound(NotFound):
    """No such review ticket (code ``not_found``: clients map codes to exit codes by the
    classes ``errors.py`` knows)."""


def check_ticket_id(ticket_id: Any) -> str:
    """``ticket_id`` if it has the shape of a ticket id (``rv_`` + 24 url-safe characters)."""
    if not isinstance(ticket_id, str) or not _TICKET_ID.fullmatch(ticket_id):
        raise TicketNotFound(f"no review ticket {str(ticket_id)[:40]!r}")
    return ticket_id


def new_ticket_id() -> str:
    return TICKET_PREFIX + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Finished:
    """A decided or expired ticket taken by a server's review worker (``take_finished``)."""

    ticket: Ticket
    url: str | None
    """Its webhook, when the decision is still to be delivered there."""
    first: bool
    """Taken for the first time: its wait is to be measured, its label made sure of."""
    attempts: int
    """Delivery attempts so far."""


class ReviewStore:
    """Review tickets; shares the registry store's engine (``store.reviews``)."""

    def __init__(self, engine: Engine, feedback: FeedbackStore, *, hmac_key: bytes | None = None) -> None:
        self._engine = engine
        self._feedback = feedback
        self._hmac_key = hmac_key

    # -- the data plane -------------------------------------------------------------------

    def open(self, new: NewTicket, *, source: str = "local") -> Ticket:
        """Store a held prediction as a ``pending`` ticket due ``timeout_seconds`` from now."""
        values = _new_values(new)

        def work(conn: Connection) -> Ticket:
            now = queries.now()
            row = {
                **values,
                "id": new_ticket_id(),
                "status": "pending",
                "created_at": now,
                "deadline_at": now + timedelta(seconds=new.timeout_seconds),
            }
            conn.execute(sa.insert(tickets).values(**row))
            details = {"target": new.target, "model": f"{new.model}/{new.version}", "reasons": list(new.reasons)}
            event = AuditEvent(new.caller, source, "review.open", row["id"], details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return _ticket(row)

        return transactions.run(self._engine, work, write=True, retry_unique=True, what="opening a review ticket")

    # -- reading --------------------------------------------------------------------------

    def get(self, ticket_id: str) -> Ticket:
        check_ticket_id(ticket_id)

        def work(conn: Connection) -> Ticket:
            return _load(conn, ticket_id)

        return transactions.run(self._engine, work, write=False, what=f"reading review ticket {ticket_id}")

    def list(self, *, status: str | None = None, target: str | None = None, limit: int = 100) -> builtins.list[Ticket]:
        """Tickets, oldest first (the queue order); ``status`` one of the four or ``open``."""
        query = sa.select(tickets)
        if status is not None:
            if status == "open":
                query = query.where(tickets.c.status.in_(OPEN_STATUSES))
            elif status in TICKET_STATUSES:
                query = query.where(tickets.c.status == status)
            else:
                raise InvalidRequest(f"status is one of open, {', '.join(TICKET_STATUSES)}; not {str(status)[:40]!r}")
        if target is not None:
            check_model_name(target)
            query = query.where(tickets.c.target == target)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"limit is an integer from 1 to {MAX_LIST}")
        query = query.order_by(tickets.c.created_at, tickets.c.id).limit(limit)

        def work(conn: Connection) -> builtins.list[Ticket]:
            return [_ticket(r) for r in conn.execute(query).mappings()]

        return transactions.run(self._engine, work, write=False, what="listing review tickets")

    def counts(self) -> dict[str, int]:
        """How many tickets are in each status (for the ``shipyard_review_tickets`` gauge)."""
        query = sa.select(tickets.c.status, sa.func.count()).group_by(tickets.c.status)

        def work(conn: Connection) -> dict[str, int]:
            found: dict[str, int] = {s: 0 for s in TICKET_STATUSES}
            for status, count in conn.execute(query):
                found[str(status)] = int(count)
            return found

        return transactions.run(self._engine, work, write=False, what="counting review tickets")

    # -- reviewers ------------------------------------------------------------------------

    def claim(self, ticket_id: str, actor: str | None = None, *, source: str = "local") -> Ticket:
        """``pending → claimed`` by ``actor``; the same claimer again is accepted, anyone
        else, or a ticket no longer open, is a ``Conflict``."""
        check_ticket_id(ticket_id)
        who = actor or local_actor()

        def work(conn: Connection) -> Ticket:
            ticket = _load(conn, ticket_id)
            _refuse_closed(ticket)
            if ticket.status == "claimed":
                if ticket.claimed_by != who:
                    raise Conflict(f"review ticket {ticket_id} is claimed by {ticket.claimed_by}")
                return ticket
            now = queries.now()
            changed = conn.execute(
                sa.update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.status == "pending")
                .values(status="claimed", claimed_by=who, claimed_at=now)
            )
            if changed.rowcount != 1:
                raise Conflict(f"review ticket {ticket_id} changed meanwhile; read it again")
            append_in(conn, AuditEvent(who, source, "review.claim", ticket_id), hmac_key=self._hmac_key)
            return _load(conn, ticket_id)

        return transactions.run(self._engine, work, write=True, what=f"claiming review ticket {ticket_id}")

    def decide(
        self,
        ticket_id: str,
        action: str,
        *,
        actor: str | None = None,
        outputs: Mapping[str, Any] | None = None,
        comment: str | None = None,
        source: str = "local",
    ) -> Ticket:
        """Decide an open ticket: ``approve`` (the proposed outputs stand) or ``override``
        (``outputs`` replace them, same output names and rows). Only the claimer decides a
        claimed ticket; an unclaimed one is claimed and decided at once. Deciding a ticket
        already decided or expired is a ``Conflict``. The final ``predict`` of each row is then
        recorded as its label (feedback, by ``actor``)."""
        check_ticket_id(ticket_id)
        who = actor or local_actor()
        if action not in ACTIONS:
            raise InvalidRequest(f"action is approve or override, not {str(action)[:40]!r}")
        if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT or "\x00" in comment):
            raise InvalidRequest(f"a comment is a string of at most {MAX_COMMENT} characters")
        if action == "approve" and outputs is not None:
            raise InvalidRequest("approve takes no outputs (the proposed ones stand); use override to change them")
        if action == "override" and outputs is None:
            raise InvalidRequest('override needs outputs: {"predict": [one value per row]}')

        def work(conn: Connection) -> Ticket:
            ticket = _load(conn, ticket_id)
            _refuse_closed(ticket)
            if ticket.status == "claimed" and ticket.claimed_by != who:
                raise Conflict(f"review ticket {ticket_id} is claimed by {ticket.claimed_by}")
            final = dict(ticket.proposed) if outputs is None else _check_override(ticket, outputs)
            now = queries.now()
            values: dict[str, Any] = {
                "status": "decided",
                "decided_by": who,
                "decided_at": now,
                "decision": _encode("decision", {"action": action, "outputs": final}),
                "comment": comment,
            }
            if ticket.status == "pending":
                values.update(claimed_by=who, claimed_at=now)
            changed = conn.execute(
                sa.update(tickets).where(tickets.c.id == ticket_id, tickets.c.status == ticket.status).values(**values)
            )
            if changed.rowcount != 1:
                raise Conflict(f"review ticket {ticket_id} changed meanwhile; read it again")
            details = {"action": action, "waited_seconds": round((now - ticket.created_at).total_seconds(), 3)}
            event = AuditEvent(who, source, "review.decide", ticket_id, reason=comment or None, details=details)
            append_in(conn, event, hmac_key=self._hmac_key)
            return _load(conn, ticket_id)

        decided = transactions.run(self._engine, work, write=True, what=f"deciding review ticket {ticket_id}")
        try:
            self.record_feedback(decided)
        except Exception:  # the decision stands; the review worker records the labels again
            logger.exception("review ticket %s: the labels were not recorded yet", ticket_id)
        return decided

    def record_feedback(self, ticket: Ticket) -> int:
        """Record ``ticket``'s final ``predict`` per row as labels by its decider; the rows
        recorded (already-equal labels count; a row with another label already is skipped)."""
        if ticket.decision not in ACTIONS or ticket.outputs is None or ticket.decided_by is None:
            return 0
        labels = ticket.outputs.get("predict")
        if not isinstance(labels, list):
            return 0
        prediction = Prediction(
            request_id=ticket.request_id,
            rows=len(labels),
            target=ticket.target,
            model=ticket.model,
            version=ticket.version,
            time=ticket.created_at.timestamp(),
            caller=ticket.caller,
            key=ticket.key,
            deployment=ticket.deployment,
            variant=ticket.variant,
        )
        recorded = 0
        for row, label in enumerate(labels):
            if label is None or isinstance(label, (dict, list)):
                continue
            try:
                self._feedback.record(prediction, row, Feedback(label=label), recorded_by=ticket.decided_by)
                recorded += 1
            except (Conflict, InvalidRequest) as exc:
                logger.warning("review ticket %s: row %d label not recorded: %s", ticket.id, row, exc.message)
        return recorded

    # -- the periodic work ----------------------------------------------------------------

    def expire_due(self, now: datetime | None = None, *, limit: int = 500) -> builtins.list[Ticket]:
        """Every open ticket past its deadline → ``expired``, answered with its fallback
        (no outputs when it has none); audited ``review.expire`` by ``system:review``."""
        moment = now or queries.now()
        due = (
            sa.select(tickets)
            .where(tickets.c.status.in_(OPEN_STATUSES), tickets.c.deadline_at <= moment)
            .order_by(tickets.c.deadline_at)
            .limit(limit)
        )

        def work(conn: Connection) -> builtins.list[Ticket]:
            expired: builtins.list[Ticket] = []
            for row in conn.execute(due).mappings().all():
                ticket = _ticket(row)
                answer = _fallback_outputs(ticket)
                changed = conn.execute(
                    sa.update(tickets)
                    .where(tickets.c.id == ticket.id, tickets.c.status == ticket.status)
                    .values(
                        status="expired",
                        decided_at=moment,
                        decision=_encode("decision", {"action": "expired", "outputs": answer}),
                    )
                )
                if changed.rowcount != 1:
                    continue
                details = {"fallback": answer is not None, "deadline": ticket.deadline_at.isoformat()}
                event = AuditEvent("system:review", "local", "review.expire", ticket.id, details=details)
                append_in(conn, event, hmac_key=self._hmac_key)
                expired.append(_load(conn, ticket.id))
            return expired

        return transactions.run(self._engine, work, write=True, what="expiring review tickets")

    def take_finished(self, *, lease_seconds: float = 60.0, limit: int = 100) -> builtins.list[Finished]:
        """Decided or expired tickets with work left for a server: never taken yet (its wait
        is to be measured and its label made sure of), or with a webhook to deliver whose
        lease has ended. Each is taken by compare-and-set on ``notified_at``, so two workers
        never take the same one: one without a webhook is done at once (``notified_at`` =
        now); one with a webhook is leased for ``lease_seconds`` (a worker that dies leaves
        it to be taken again when the lease ends)."""
        moment = queries.now()
        due = (
            sa.select(tickets)
            .where(
                tickets.c.status.in_(("decided", "expired")),
                sa.or_(
                    tickets.c.notified_at.is_(None),
                    sa.and_(tickets.c.webhook.is_not(None), tickets.c.notified_at <= moment),
                ),
            )
            .order_by(tickets.c.decided_at)
            .limit(limit)
        )

        def work(conn: Connection) -> builtins.list[Finished]:
            taken: builtins.list[Finished] = []
            for row in conn.execute(due).mappings().all():
                take = sa.update(tickets).where(tickets.c.id == row["id"])
                if row["notified_at"] is None:
                    take = take.where(tickets.c.notified_at.is_(None))
                else:
                    take = take.where(tickets.c.notified_at == row["notified_at"])
                url = row["webhook"]
                until = moment if url is None else moment + timedelta(seconds=lease_seconds)
                if conn.execute(take.values(notified_at=until)).rowcount != 1:
                    continue
                attempts = int(_delivery(row).get("attempts", 0))
                taken.append(
                    Finished(_ticket(row), None if url is None else str(url), row["notified_at"] is None, attempts)
                )
            return taken

        return transactions.run(self._engine, work, write=True, what="taking finished review tickets")

    def delivered(
        self,
        ticket_id: str,
        *,
        ok: bool,
        status: int | None = None,
        error: str | None = None,
        retry_in: float | None = None,
    ) -> None:
        """Record a delivery attempt: done (``ok``, or given up: ``retry_in`` None) clears
        the webhook; otherwise the lease moves to ``retry_in`` seconds from now."""
        check_ticket_id(ticket_id)

        def work(conn: Connection) -> None:
            row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).mappings().first()
            if row is None:
                raise TicketNotFound(f"no review ticket {ticket_id!r}")
            now = queries.now()
            decision = _decoded(row["decision"]) or {}
            delivery = dict(_delivery(row))
            delivery["attempts"] = int(delivery.get("attempts", 0)) + 1
            delivery["status"] = status
            delivery["error"] = None if error is None else error[:300]
            done = ok or retry_in is None
            delivery["state"] = "delivered" if ok else ("failed" if done else "retrying")
            decision["delivery"] = delivery
            values: dict[str, Any] = {"decision": _encode("decision", decision)}
            if done:
                values.update(webhook=None, notified_at=now)
            else:
                values["notified_at"] = now + timedelta(seconds=float(retry_in or 0.0))
            conn.execute(sa.update(tickets).where(tickets.c.id == ticket_id).values(**values))
            if done:
                details = {"state": delivery["state"], "attempts": delivery["attempts"], "status": status}
                event = AuditEvent("system:review", "local", "review.notify", ticket_id, details=details)
                append_in(conn, event, hmac_key=self._hmac_key)

        transactions.run(self._engine, work, write=True, what=f"recording the delivery of {ticket_id}")


# -- rows -----------------------------------------------------------------------------------


def _new_values(new: NewTicket) -> dict[str, Any]:
    if not isinstance(new, NewTicket):
        raise InvalidRequest("a review ticket is opened from a NewTicket")
    check_model_name(new.target)
    check_model_name(new.model)
    if isinstance(new.version, bool) or not isinstance(new.version, int) or new.version < 1:
        raise InvalidRequest("a review ticket's version is a positive integer")
    for what, value, limit, optional in (
        ("deployment", new.deployment, 128, True),
        ("variant", new.variant, 64, True),
        ("request id", new.request_id, 128, False),
        ("caller", new.caller, 255, False),
        ("prediction key", new.key, 128, True),
    ):
        if value is None and optional:
            continue
        if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
            raise InvalidRequest(f"a review ticket's {what} is a string of 1 to {limit} characters")
    reasons = list(new.reasons)
    if len(reasons) > MAX_REASONS or not all(isinstance(r, str) and 0 < len(r) <= 64 for r in reasons):
        raise InvalidRequest(f"a review ticket has at most {MAX_REASONS} reasons of 1 to 64 characters")
    timeout = new.timeout_seconds
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout):
        raise InvalidRequest("a review timeout is a number of seconds")
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise InvalidRequest(f"a review timeout is more than 0 and at most {MAX_TIMEOUT_SECONDS:.0f} seconds")
    if new.webhook is not None and (not isinstance(new.webhook, str) or not 0 < len(new.webhook) <= 2000):
        raise InvalidRequest("a review webhook is a URL of at most 2000 characters")
    for what, mapping in (("inputs", new.inputs), ("proposed outputs", new.proposed)):
        if not isinstance(mapping, Mapping):
            raise InvalidRequest(f"a review ticket's {what} are a mapping of name to values")
    if new.fallback is not None and not isinstance(new.fallback, Mapping):
        raise InvalidRequest("a review ticket's fallback is a mapping of output name to values")
    return {
        "target": new.target,
        "model": new.model,
        "version": new.version,
        "deployment": new.deployment,
        "variant": new.variant,
        "request_id": new.request_id,
        "caller": new.caller,
        "key": new.key,
        "reasons": _encode("reasons", reasons),
        "inputs": _encode("inputs", dict(new.inputs)),
        "proposed": _encode("proposed outputs", dict(new.proposed)),
        "fallback": None if new.fallback is None else _encode("fallback", dict(new.fallback)),
        "webhook": new.webhook,
    }


def _check_override(ticket: Ticket, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The reviewer's outputs: a mapping of the ticket's output names (``predict`` at least)
    to one value per row; missing outputs keep nothing of the proposal (they would disagree)."""
    if not isinstance(outputs, Mapping) or not outputs:
        raise InvalidRequest('outputs are a mapping such as {"predict": [one value per row]}')
    rows = ticket.rows
    checked: dict[str, Any] = {}
    for name, values in outputs.items():
        if not isinstance(name, str) or name not in ticket.proposed:
            known = ", ".join(sorted(ticket.proposed)) or "none"
            raise InvalidRequest(f"output {str(name)[:60]!r} is not one of the ticket's outputs ({known})")
        if not isinstance(values, list) or len(values) != rows:
            raise InvalidRequest(f"output {name!r} needs a list of {rows} value(s), one per row")
        checked[name] = values
    if "predict" in ticket.proposed and "predict" not in checked:
        raise InvalidRequest("an override gives predict (one value per row)")
    _encode("outputs", checked)
    return checked


def _fallback_outputs(ticket: Ticket) -> dict[str, Any] | None:
    """The fallback as outputs per row: ``{"answer": {...}}`` unwrapped, one value repeated."""
    fallback = ticket.fallback
    if not fallback:
        return None
    answer = fallback.get("answer") if isinstance(fallback.get("answer"), Mapping) else fallback
    outputs: dict[str, Any] = {}
    for name, value in cast(Mapping[str, Any], answer).items():
        if name == "model":
            continue
        outputs[str(name)] = value if isinstance(value, list) else [value] * ticket.rows
    return outputs or None


def _refuse_closed(ticket: Ticket) -> None:
    if ticket.status == "decided":
        raise Conflict(f"review ticket {ticket.id} is already decided ({ticket.decision} by {ticket.decided_by})")
    if ticket.status == "expired":
        raise Conflict(f"review ticket {ticket.id} expired at its deadline; the fallback answered")


def _load(conn: Connection, ticket_id: str) -> Ticket:
    row = conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id)).mappings().first()
    if row is None:
        raise TicketNotFound(f"no review ticket {ticket_id!r}")
    return _ticket(row)


def _ticket(row: Mapping[Any, Any]) -> Ticket:
    decision = _decoded(row.get("decision"))
    return Ticket(
        id=str(row["id"]),
        target=str(row["target"]),
        model=str(row["model"]),
        version=int(row["version"]),
        deployment=row.get("deployment"),
        variant=row.get("variant"),
        request_id=str(row["request_id"]),
        caller=str(row["caller"]),
        key=row.get("key"),
        reasons=tuple(_decoded(row["reasons"]) or ()),
        inputs=_decoded(row["inputs"]) or {},
        proposed=_decoded(row["proposed"]) or {},
        fallback=_decoded(row.get("fallback")),
        status=row["status"],
        created_at=row["created_at"],
        deadline_at=row["deadline_at"],
        claimed_by=row.get("claimed_by"),
        claimed_at=row.get("claimed_at"),
        decided_by=row.get("decided_by"),
        decision=None if decision is None else decision.get("action"),
        outputs=None if decision is None else decision.get("outputs"),
        comment=row.get("comment"),
        decided_at=row.get("decided_at"),
        webhook=row.get("webhook"),
        notified_at=row.get("notified_at"),
        extra={} if decision is None else {"delivery": decision.get("delivery")},
    )


def _delivery(row: Mapping[Any, Any]) -> Mapping[str, Any]:
    decision = _decoded(row.get("decision")) or {}
    found = decision.get("delivery")
    return found if isinstance(found, Mapping) else {}


def _encode(what: str, value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidRequest(f"a review ticket's {what} cannot be stored as JSON: {exc}") from None
    if len(text) > MAX_JSON_BYTES:
        raise InvalidRequest(f"a review ticket's {what} are larger than {MAX_JSON_BYTES} bytes as JSON")
    return text.decode()


def _decoded(text: Any) -> Any:
    return None if text is None else orjson.loads(text)
