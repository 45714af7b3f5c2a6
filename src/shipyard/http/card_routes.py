"""Model cards and the one view of a version over HTTP, and their route table entries:

- ``GET  /api/models/{name}/versions/{version}/card`` (``models.read``): the card as JSON,
  Markdown or HTML (``?format=json|md|html``, ``?revision=N`` for an earlier narrative);
- ``PUT  /api/models/{name}/versions/{version}/card`` (``cards.write``): set narrative
  fields, ``{"fields": {"intended_use": "..."}, "reason": "..."}``; a new revision, audited;
- ``GET  /api/models/{name}/versions/{version}/card/history`` (``models.read``);
- ``GET  /api/models/{name}/versions/{version}/governance`` (``models.read``): tier,
  approvals and what the gate misses (``?purpose=alias:A|deployment:D``), card status,
  review rules, PII marks, aliases and deployments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InvalidRequest, MalformedRequest
from shipyard.governance import scopes as sc
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import JSON, Reply, RouteSpec, ok
from shipyard.http.schemas import ref
from shipyard.http.state import app_state, caller_of
from shipyard.registry.card_render import FORMATS, MEDIA_TYPES, render
from shipyard.registry.cards import build_card, card_for, card_status, governance_of
from shipyard.registry.governance_view import version_governance
from shipyard.registry.refs import check_model_name, parse_version

_EDIT_FIELDS = frozenset({"fields", "reason"})
_PURPOSE_MAX = 200


def _path(request: Request) -> tuple[str, int]:
    return check_model_name(request.path_params["name"]), parse_version(request.path_params["version"])


def _only(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        shown = ", ".join(sorted(unknown))[:120]
        raise InvalidRequest(f"unknown query parameters: {shown} (this route takes {', '.join(sorted(allowed))})")


async def get_card(request: Request) -> Response:
    name, version = _path(request)
    _only(request, {"format", "revision"})
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}, not {fmt[:20]!r}")
    text = request.query_params.get("revision")
    revision = None
    if text is not None:
        try:
            revision = parse_version(text)
        except InvalidRequest:
            raise InvalidRequest("revision is a card revision number (1, 2, ...)") from None
    store = app_state(request).services.store
    card = await run_in_threadpool(card_for, store, name, version, revision=revision)
    if fmt == "json":
        return JSONResponse(card)
    return Response(render(card, fmt), media_type=MEDIA_TYPES[fmt])


async def put_card(request: Request) -> Response:
    name, version = _path(request)
    caller = caller_of(request)
    body = json_object(await request.body())
    unknown = set(body) - _EDIT_FIELDS
    if unknown:
        raise MalformedRequest(
            f"unexpected fields: {', '.join(sorted(unknown))[:200]} (this route takes fields, reason)"
        )
    fields = body.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise InvalidRequest('"fields" is a non-empty object of card field name to text')
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidRequest('"reason" must be a string')
    store = app_state(request).services.store

    def work() -> dict[str, Any]:
        revision = store.cards.edit(
            name, version, fields, actor=caller.subject, source=caller.source or "unknown", reason=reason
        )
        card = build_card(
            store.get_model(name), store.get_version(name, version), revision, governance_of(store, name, version)
        )
        return {"revision": revision.to_dict(), "card": card_status(card)}

    return JSONResponse(await run_in_threadpool(work))


async def card_history(request: Request) -> Response:
    name, version = _path(request)
    _only(request, set())
    store = app_state(request).services.store
    revisions = await run_in_threadpool(store.cards.history, name, version)
    return JSONResponse({"model": name, "version": version, "revisions": [r.to_dict() for r in revisions]})


async def get_governance(request: Request) -> Response:
    name, version = _path(request)
    _only(request, {"purpose"})
    purpose = request.query_params.get("purpose")
    if purpose is not None and (len(purpose) > _PURPOSE_MAX or not purpose.startswith(("alias:", "deployment:"))):
        raise InvalidRequest("purpose is alias:NAME or deployment:NAME")
    store = app_state(request).services.store
    view = await run_in_threadpool(version_governance, store, name, version, purpose=purpose)
    return JSONResponse(view)


_TAG = "governance"
_BASE = "/api/models/{name}/versions/{version}"
_NOT_FOUND = Reply("404", "No such model, version or card revision", {JSON: ref("Error")})

CARD_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        f"{_BASE}/card",
        get_card,
        sc.MODELS_READ,
        "model",
        "show_card",
        "A version's model card: generated from the registry, narrative on top (JSON, Markdown or HTML)",
        _TAG,
        model_param="name",
        replies=(
            Reply(
                "200",
                "The card",
                {
                    JSON: ref("ModelCard"),
                    "text/markdown": {"type": "string"},
                    "text/html": {"type": "string"},
                },
            ),
            _NOT_FOUND,
        ),
        query={
            "format": {"type": "string", "enum": list(FORMATS), "default": "json"},
            "revision": {"type": "integer", "minimum": 1, "description": "an earlier narrative revision"},
        },
    ),
    RouteSpec(
        "PUT",
        f"{_BASE}/card",
        put_card,
        sc.CARDS_WRITE,
        "model",
        "edit_card",
        "Set narrative fields of a version's model card (a new revision, audited)",
        _TAG,
        model_param="name",
        body="json",
        request={JSON: ref("CardEdit")},
        replies=(ok("CardEdited"), _NOT_FOUND),
        enforce_media_type=True,
    ),
    RouteSpec(
        "GET",
        f"{_BASE}/card/history",
        card_history,
        sc.MODELS_READ,
        "model",
        "card_history",
        "Every revision of a version's model card, oldest first",
        _TAG,
        model_param="name",
        replies=(ok("CardHistory"), _NOT_FOUND),
    ),
    RouteSpec(
        "GET",
        f"{_BASE}/governance",
        get_governance,
        sc.MODELS_READ,
        "model",
        "show_version_governance",
        "A version's lifecycle in one view: tier, approvals and what is missing, card status, "
        "review rules, PII fields, aliases and deployments",
        _TAG,
        model_param="name",
        replies=(ok("VersionGovernance"), _NOT_FOUND),
        query={
            "purpose": {
                "type": "string",
                "maxLength": _PURPOSE_MAX,
                "pattern": "^(alias|deployment):.+$",
                "description": "what the gate is asked about (default: the first protected alias)",
            }
        },
    ),
)
