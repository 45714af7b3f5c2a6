"""Governance over HTTP: the policy, a model's risk tier, approval requests and votes, the
gate's status of a version, governance flags and the emergency rollback of an alias; and
their entries in the route table (``http/routes``).

Scopes: reading is ``models.read`` (on the model, or on some model for lists, which then
show only what the caller may read); the policy, tiers and clearing flags need
``governance.admin``; asking for an approval ``approvals.request``; voting
``approvals.write`` on the request's model (never on one's own registration, checked by
the store: 403 ``separation_of_duties``); an alias rollback ``aliases.write``. The gate
itself is not here: it runs in the registry store and in rollout, whoever calls them.
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
from shipyard.registry.refs import check_alias, check_model_name, parse_version

_GOV = "governance"
MAX_REASON_CHARS = 4096


def _body(raw: bytes, fields: frozenset[str], *, empty_ok: bool = True) -> dict[str, Any]:
    body = json_object(raw, empty_ok=empty_ok)
    unknown = set(body) - fields
    if unknown:
        raise MalformedRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    return body


def _text(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidRequest(f'"{key}" is required')
        return None
    if not isinstance(value, str) or len(value) > (65536 if key == "text" else MAX_REASON_CHARS):
        raise InvalidRequest(f'"{key}" must be a string (at most {65536 if key == "text" else MAX_REASON_CHARS})')
    return value


def _who(caller: Caller) -> dict[str, str]:
    return {"actor": caller.subject, "source": caller.source or "unknown"}


def _int_param(request: Request, name: str, what: str) -> int:
    raw = request.path_params[name]
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) < 2**31:
        raise InvalidRequest(f"{what} is a positive whole number")
    return int(raw)


# -- the policy -------------------------------------------------------------------------------
async def show_policy(request: Request) -> Response:
    store = app_state(request).services.store
    return JSONResponse((await run_in_threadpool(store.policies.current)).to_dict())


async def set_policy(request: Request) -> Response:
    caller = caller_of(request)
    body = _body(await request.body(), frozenset({"text", "reason"}), empty_ok=False)
    text = _text(body, "text", required=True)
    reason = _text(body, "reason")
    store = app_state(request).services.store
    stored = await run_in_threadpool(lambda: store.policies.set(text or "", reason=reason, **_who(caller)))
    return JSONResponse(stored.to_dict())


async def policy_history(request: Request) -> Response:
    limit = _limit(request)
    store = app_state(request).services.store
    found = await run_in_threadpool(lambda: store.policies.history(limit=limit))
    return JSONResponse({"revisions": [p.to_dict() for p in found]})


# -- tiers ------------------------------------------------------------------------------------
async def set_tier(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    caller = caller_of(request)
    body = _body(await request.body(), frozenset({"tier", "reason"}), empty_ok=False)
    tier = body.get("tier")
    if not isinstance(tier, str):
        raise InvalidRequest('"tier" is one of minimal, limited, high')
    reason = _text(body, "reason")
    store = app_state(request).services.store
    model = await run_in_threadpool(lambda: store.set_tier(name, tier, reason=reason, **_who(caller)))
    return JSONResponse(model.to_dict())


# -- approvals --------------------------------------------------------------------------------
async def request_approval(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    version = parse_version(request.path_params["version"])
    caller = caller_of(request)
    body = _body(await request.body(), frozenset({"comment", "expires_in_days"}), empty_ok=False)
    comment = _text(body, "comment", required=True) or ""
    days = body.get("expires_in_days")
    store = app_state(request).services.store
    found = await run_in_threadpool(
        lambda: store.approvals.request(name, version, comment=comment, expires_in_days=days, **_who(caller))
    )
    return JSONResponse(found, status_code=201)


async def approval_status(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    version = parse_version(request.path_params["version"])
    alias, deployment = request.query_params.get("alias"), request.query_params.get("deployment")
    if alias is not None and deployment is not None:
        raise InvalidRequest("give alias or deployment, not both")
    if deployment is not None:
        purpose = f"deployment:{check_model_name(deployment)}"
    else:
        purpose = f"alias:{check_alias(alias or 'production')}"
    store = app_state(request).services.store
    status = await run_in_threadpool(lambda: store.approvals.status(name, version, purpose=purpose))
    return JSONResponse(status.to_dict())


async def list_approvals(request: Request) -> Response:
    caller = caller_of(request)
    query = request.query_params
    unknown = set(query) - {"model", "version", "status", "limit"}
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(sorted(unknown))[:200]}")
    name = check_model_name(query["model"]) if "model" in query else None
    version = parse_version(query["version"]) if "version" in query else None
    status, limit = query.get("status"), _limit(request)
    store = app_state(request).services.store
    found = await run_in_threadpool(
        lambda: store.approvals.list(name=name, version=version, status=status, limit=limit)
    )
    return JSONResponse({"approvals": [a for a in found if caller.allows(sc.MODELS_READ, a["model"])]})


async def show_approval(request: Request) -> Response:
    caller = caller_of(request)
    number = _int_param(request, "approval", "an approval request id")
    store = app_state(request).services.store
    found = await run_in_threadpool(store.approvals.get, number)
    _check_on(caller, sc.MODELS_READ, found["model"], "read approvals of")
    return JSONResponse(found)


async def approve(request: Request) -> Response:
    return await _vote(request, "approve")


async def reject(request: Request) -> Response:
    return await _vote(request, "reject")


async def _vote(request: Request, decision: str) -> Response:
    caller = caller_of(request)
    number = _int_param(request, "approval", "an approval request id")
    body = _body(await request.body(), frozenset({"comment"}))
    comment = _text(body, "comment") or ""
    store = app_state(request).services.store
    found = await run_in_threadpool(store.approvals.get, number)
    _check_on(caller, sc.APPROVALS_WRITE, found["model"], f"{decision} approvals of")
    vote = store.approvals.approve if decision == "approve" else store.approvals.reject
    result = await run_in_threadpool(lambda: vote(number, comment=comment, **_who(caller)))
    return JSONResponse(result)


def _check_on(caller: Caller, scope: str, model: str, what: str) -> None:
    if not caller.allows(scope, model):
        raise Forbidden(f"this key may not {what} {model!r}")


# -- flags and emergency rollback ---------------------------------------------------------------
async def list_flags(request: Request) -> Response:
    caller = caller_of(request)
    query = request.query_params
    unknown = set(query) - {"all", "limit"}
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(sorted(unknown))[:200]}")
    everything = query.get("all", "false")
    if everything not in ("true", "false"):
        raise InvalidRequest('"all" is true or false')
    limit = _limit(request)
    store = app_state(request).services.store
    found = await run_in_threadpool(lambda: store.flags.list(include_cleared=everything == "true", limit=limit))
    visible = [f for f in found if caller.allows(sc.MODELS_READ, f.target.partition("@")[0])]
    return JSONResponse({"flags": [f.to_dict() for f in visible]})


async def clear_flag(request: Request) -> Response:
    caller = caller_of(request)
    number = _int_param(request, "flag", "a flag id")
    body = _body(await request.body(), frozenset({"note"}), empty_ok=False)
    note = _text(body, "note", required=True) or ""
    store = app_state(request).services.store
    flag = await run_in_threadpool(lambda: store.flags.clear(number, note=note, **_who(caller)))
    return JSONResponse(flag.to_dict())


async def rollback_alias(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    alias = check_alias(request.path_params["alias"])
    caller = caller_of(request)
    body = _body(await request.body(), frozenset({"to_version", "reason"}))
    to = parse_version(body["to_version"]) if body.get("to_version") is not None else None
    reason = _text(body, "reason")
    state = app_state(request)
    done = await run_in_threadpool(
        lambda: state.services.store.rollback_alias(name, alias, to=to, reason=reason, **_who(caller))
    )
    # An emergency rollback, above all, must reach every worker before it is reported done.
    await state.manager.follow(f"{name}@{alias} is rolled back to version {done['version']}", name, alias)
    return JSONResponse(done)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequest('"limit" is a whole number from 1 to 1000')
    return int(raw)


_LIMIT = {"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}
_ERROR = {JSON: ref("Error")}
_REFUSED = Reply("409", "Refused by the governance policy, or a conflicting vote or state", _ERROR)
_SOD = Reply("403", "Not allowed: the scope is missing, or separation of duties (one's own registration)", _ERROR)
_NOT_FOUND = Reply("404", "No such model, version, request or flag", _ERROR)
_BAD = Reply("400", "Malformed, or a bad value", _ERROR)


def _json_route(
    method: str,
    path: str,
    endpoint: Any,
    *,
    scope: str,
    target: Any,
    op: str,
    summary: str,
    request: str,
    reply: str,
    status: str = "200",
    model_param: str | None = None,
    extra: tuple[Reply, ...] = (),
) -> RouteSpec:
    return RouteSpec(
        method,
        path,
        endpoint,
        scope,
        target,
        op,
        summary,
        _GOV,
        model_param=model_param,
        body="json",
        request={JSON: ref(request)},
        replies=(ok(reply, status), _BAD, *extra),
        enforce_media_type=True,
    )


_APPROVAL = "/api/approvals/{approval}"
_VERSION = "/api/models/{name}/versions/{version}/approvals"

GOVERNANCE_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        "/api/policy",
        show_policy,
        sc.MODELS_READ,
        "some",
        "show_policy",
        "The governance policy in force (revision 0: the built-in default)",
        _GOV,
        replies=(ok("Policy"),),
    ),
    _json_route(
        "PUT",
        "/api/policy",
        set_policy,
        scope=sc.GOVERNANCE_ADMIN,
        target="server",
        op="set_policy",
        summary="Replace the governance policy (a new revision; admins only)",
        request="PolicySet",
        reply="Policy",
    ),
    RouteSpec(
        "GET",
        "/api/policy/history",
        policy_history,
        sc.MODELS_READ,
        "some",
        "policy_history",
        "Every revision of the policy, newest first",
        _GOV,
        replies=(ok("PolicyList"), _BAD),
        query=_LIMIT,
    ),
    _json_route(
        "PUT",
        "/api/models/{name}/tier",
        set_tier,
        scope=sc.GOVERNANCE_ADMIN,
        target="model",
        op="set_tier",
        summary="Set a model's risk tier (admins only)",
        request="TierSet",
        reply="Model",
        model_param="name",
        extra=(_NOT_FOUND,),
    ),
    _json_route(
        "POST",
        _VERSION,
        request_approval,
        scope=sc.APPROVALS_REQUEST,
        target="model",
        op="request_approval",
        summary="Ask for a version's approval",
        request="ApprovalAsk",
        reply="ApprovalRequest",
        status="201",
        model_param="name",
        extra=(_NOT_FOUND,),
    ),
    RouteSpec(
        "GET",
        _VERSION,
        approval_status,
        sc.MODELS_READ,
        "model",
        "approval_status",
        "A version against the policy: tier, requirements, approvals and what is missing",
        _GOV,
        model_param="name",
        replies=(ok("GateStatus"), _BAD, _NOT_FOUND),
        query={"alias": {"type": "string", "maxLength": 64}, "deployment": {"type": "string", "maxLength": 128}},
    ),
    RouteSpec(
        "GET",
        "/api/approvals",
        list_approvals,
        sc.MODELS_READ,
        "some",
        "list_approvals",
        "Approval requests (those of models the caller may read), newest first",
        _GOV,
        replies=(ok("ApprovalList"), _BAD, _NOT_FOUND),
        query={
            "model": {"type": "string", "maxLength": 128},
            "version": {"type": "integer", "minimum": 1},
            "status": {"type": "string", "enum": ["pending", "approved", "rejected", "expired"]},
            **_LIMIT,
        },
    ),
    RouteSpec(
        "GET",
        _APPROVAL,
        show_approval,
        sc.MODELS_READ,
        "some",
        "show_approval",
        "One approval request and its votes",
        _GOV,
        replies=(ok("ApprovalRequest"), _BAD, _NOT_FOUND),
    ),
    _json_route(
        "POST",
        f"{_APPROVAL}/approve",
        approve,
        scope=sc.APPROVALS_WRITE,
        target="some",
        op="approve",
        summary="Approve (never one's own registration; one vote per approver)",
        request="ApprovalVote",
        reply="ApprovalRequest",
        extra=(_SOD, _NOT_FOUND, _REFUSED),
    ),
    _json_route(
        "POST",
        f"{_APPROVAL}/reject",
        reject,
        scope=sc.APPROVALS_WRITE,
        target="some",
        op="reject",
        summary="Reject (the request is then closed)",
        request="ApprovalVote",
        reply="ApprovalRequest",
        extra=(_NOT_FOUND, _REFUSED),
    ),
    RouteSpec(
        "GET",
        "/api/governance/flags",
        list_flags,
        sc.MODELS_READ,
        "some",
        "list_flags",
        "Governance flags to review (emergency rollbacks), newest first",
        _GOV,
        replies=(ok("FlagList"), _BAD),
        query={"all": {"type": "string", "enum": ["true", "false"]}, **_LIMIT},
    ),
    _json_route(
        "POST",
        "/api/governance/flags/{flag}/clear",
        clear_flag,
        scope=sc.GOVERNANCE_ADMIN,
        target="server",
        op="clear_flag",
        summary="Clear a flag after review, with a note (admins only)",
        request="FlagClear",
        reply="Flag",
        extra=(_NOT_FOUND, _REFUSED),
    ),
    _json_route(
        "POST",
        "/api/models/{name}/aliases/{alias}/rollback",
        rollback_alias,
        scope=sc.ALIASES_WRITE,
        target="model",
        op="rollback_alias",
        summary="Emergency rollback of an alias (never gated; audited and flagged for review)",
        request="AliasRollback",
        reply="AliasRolledBack",
        model_param="name",
        extra=(_NOT_FOUND,),
    ),
)
