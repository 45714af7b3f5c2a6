"""The human review queue over HTTP (``registry/sql/reviews.py``), and its entries in the
route table (``http/routes``):

- ``GET /reviews`` (``reviews.write``): the queue, oldest first, of the targets the key may
  review; ``?status=open|pending|claimed|decided|expired``, ``?target=``, ``?limit=``.
- ``GET /reviews/{id}``: the caller polls its held prediction (``infer`` on the ticket's
  target, and the caller that made the request), or a reviewer reads it all
  (``reviews.write`` on the target). Checked at the edge on ``models.read``, which both
  roles hold, then here on the ticket.
- ``POST /reviews/{id}/claim`` (``reviews.write``): compare-and-set ``pending → claimed``.
- ``POST /reviews/{id}/decision`` (``reviews.write``): ``{"action": "approve"}`` or
  ``{"action": "override", "outputs": {"predict": [...]}, "comment": "..."}``.

Answers: 404 for an unknown ticket, 400 for a bad body (an unknown action, outputs that do
not fit the ticket), 409 for a ticket claimed by someone else or already decided/expired,
403 for a key without the scope on the ticket's target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.context import Caller
from shipyard.errors import Forbidden, InvalidRequest, MalformedRequest
from shipyard.governance import scopes as sc
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import JSON, Reply, RouteSpec, ok
from shipyard.http.schemas import ref
from shipyard.http.state import app_state, caller_of
from shipyard.registry.review_types import ACTIONS, Ticket
from shipyard.registry.sql.reviews import MAX_LIST, check_ticket_id

_DECISION_FIELDS = frozenset({"action", "outputs", "comment"})
_LIST_PARAMS = frozenset({"status", "target", "limit"})


async def list_reviews(request: Request) -> Response:
    caller = caller_of(request)
    query = request.query_params
    unknown = set(query) - _LIST_PARAMS
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(sorted(unknown))[:200]}")
    status = query.get("status") or None
    target = query.get("target") or None
    limit = _limit(query.get("limit"))
    store = app_state(request).services.store

    def work() -> list[dict[str, Any]]:
        found = store.reviews.list(status=status, target=target, limit=limit)
        return [t.to_dict() for t in found if caller.allows(sc.REVIEWS_WRITE, t.target)]

    return JSONResponse({"tickets": await run_in_threadpool(work)})


async def get_review(request: Request) -> Response:
    caller = caller_of(request)
    ticket_id = check_ticket_id(request.path_params["id"])
    ticket = await run_in_threadpool(app_state(request).services.store.reviews.get, ticket_id)
    if caller.allows(sc.REVIEWS_WRITE, ticket.target):
        return JSONResponse(ticket.to_dict())
    if caller.allows(sc.INFER, ticket.target) and caller.subject == ticket.caller:
        return JSONResponse(ticket.poll_body())
    raise Forbidden(f"this key may not read review ticket {ticket_id} (on {ticket.target!r})")


async def claim_review(request: Request) -> Response:
    caller = caller_of(request)
    ticket_id = check_ticket_id(request.path_params["id"])
    store = app_state(request).services.store

    def work() -> Ticket:
        _reviewable(caller, store.reviews.get(ticket_id))
        return store.reviews.claim(ticket_id, caller.subject, source=caller.source or "http")

    return JSONResponse((await run_in_threadpool(work)).to_dict())


async def decide_review(request: Request) -> Response:
    caller = caller_of(request)
    ticket_id = check_ticket_id(request.path_params["id"])
    action, outputs, comment = _parse_decision(json_object(await request.body()))
    store = app_state(request).services.store

    def work() -> Ticket:
        _reviewable(caller, store.reviews.get(ticket_id))
        return store.reviews.decide(
            ticket_id, action, actor=caller.subject, outputs=outputs, comment=comment, source=caller.source or "http"
        )

    return JSONResponse((await run_in_threadpool(work)).to_dict())


def _reviewable(caller: Caller, ticket: Ticket) -> None:
    if not caller.allows(sc.REVIEWS_WRITE, ticket.target):
        raise Forbidden(f"this key lacks the reviews.write scope on {ticket.target!r}", scope=sc.REVIEWS_WRITE)


def _parse_decision(body: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    unknown = set(body) - _DECISION_FIELDS
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    action = body.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise InvalidRequest(f'"action" is approve or override, not {str(action)[:40]!r}')
    outputs = body.get("outputs")
    if outputs is not None and not isinstance(outputs, dict):
        raise MalformedRequest('"outputs" is an object of output name to one value per row')
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidRequest('"comment" is a string')
    return action, outputs, comment


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return 100
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"limit is an integer from 1 to {MAX_LIST}, not {text[:20]!r}") from None
    if not 1 <= value <= MAX_LIST:
        raise InvalidRequest(f"limit is an integer from 1 to {MAX_LIST}")
    return value


_TAG = "reviews"
_NOT_FOUND = Reply("404", "No such ticket", {JSON: ref("Error")})
_CONFLICT = Reply("409", "Claimed by someone else, or already decided or expired", {JSON: ref("Error")})
_FORBIDDEN = Reply("403", "The key lacks the scope on the ticket's target", {JSON: ref("Error")})

REVIEW_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        "/reviews",
        list_reviews,
        sc.REVIEWS_WRITE,
        "some",
        "list_reviews",
        "The review queue, oldest first (only targets this key may review)",
        _TAG,
        replies=(ok("ReviewList"), Reply("400", "A bad status, target or limit", {JSON: ref("Error")})),
        query={
            "status": {"type": "string", "enum": ["open", "pending", "claimed", "decided", "expired"]},
            "target": {"type": "string", "maxLength": 128},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIST},
        },
    ),
    RouteSpec(
        "GET",
        "/reviews/{id}",
        get_review,
        sc.MODELS_READ,
        "some",
        "get_review",
        "Poll a held prediction (its caller, with infer) or read it all (a reviewer)",
        _TAG,
        replies=(ok("ReviewTicket"), _FORBIDDEN, _NOT_FOUND),
    ),
    RouteSpec(
        "POST",
        "/reviews/{id}/claim",
        claim_review,
        sc.REVIEWS_WRITE,
        "some",
        "claim_review",
        "Claim a pending ticket (the same reviewer may claim again)",
        _TAG,
        replies=(ok("ReviewTicket"), _FORBIDDEN, _NOT_FOUND, _CONFLICT),
    ),
    RouteSpec(
        "POST",
        "/reviews/{id}/decision",
        decide_review,
        sc.REVIEWS_WRITE,
        "some",
        "decide_review",
        "Approve the proposed answer or override it (the claimer; an unclaimed ticket is claimed too)",
        _TAG,
        body="json",
        request={JSON: ref("ReviewDecision")},
        replies=(
            ok("ReviewTicket"),
            Reply("400", "An unknown action, or outputs that do not fit the ticket", {JSON: ref("Error")}),
            _FORBIDDEN,
            _NOT_FOUND,
            _CONFLICT,
        ),
        enforce_media_type=True,
    ),
)
