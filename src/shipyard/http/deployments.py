"""Deployments over HTTP (``/api/deployments``): list, show, history, apply, delete.

The edge has checked the scope (``http/routes``): ``models.read`` on the deployment's name to
read, ``deployments.write`` on it to apply or delete. An apply is the CLI's ``deploy apply``:
the same parse, registry checks and single-transaction store (``rollout/service.py``); the
caller's subject and address are recorded as who applied it and from where.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InvalidRequest, MalformedRequest, NotFound
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.state import app_state
from shipyard.registry.refs import check_model_name
from shipyard.rollout.service import apply_spec

MAX_REASON_CHARS = 4096
_APPLY_FIELDS = frozenset({"spec", "reason"})


async def list_deployments(request: Request) -> Response:
    """The live deployments the caller may read."""
    state = app_state(request)
    caller = state.authorize(request, "models.read", "*")
    records = await run_in_threadpool(state.services.store.deployments.list)
    return JSONResponse({"deployments": [d.to_dict() for d in records if caller.allows("models.read", d.name)]})


async def show_deployment(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    deployment, revision = await run_in_threadpool(state.services.store.deployments.current, name)
    return JSONResponse({**deployment.to_dict(), "revision": revision.to_dict()})


async def list_revisions(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    revisions = await run_in_threadpool(state.services.store.deployments.history, name)
    return JSONResponse({"deployment": name, "revisions": [r.to_dict() for r in revisions]})


async def show_revision(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    number = _revision_number(request.path_params["revision"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    revision = await run_in_threadpool(state.services.store.deployments.revision, name, number)
    return JSONResponse(revision.to_dict())


async def apply(request: Request) -> Response:
    """``{"spec": "<YAML text>", "reason": "..."}``; the spec's ``deployment`` must be the
    name in the path. 200 with ``changed`` false when the spec is the current one."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "deployments.write", name)
    body = json_object(await request.body())
    unknown = set(body) - _APPLY_FIELDS
    if unknown:
        raise MalformedRequest(f"unexpected fields: {', '.join(sorted(unknown))[:200]}")
    spec, reason = body.get("spec"), body.get("reason")
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidRequest('the body needs "spec": the deployment spec as YAML text')
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS or "\x00" in reason):
        raise InvalidRequest(f'"reason" must be text of at most {MAX_REASON_CHARS} characters')
    applied = await run_in_threadpool(
        lambda: apply_spec(
            state.services.store,
            spec,
            actor=caller.subject,
            source=caller.source or "unknown",
            reason=reason or None,
            source_name="spec",
            expect_name=name,
        )
    )
    return JSONResponse(applied.to_dict())


async def delete(request: Request) -> Response:
    """Mark the deployment deleted (its revisions are kept); 404 if it is not live."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "deployments.write", name)
    deployment = await run_in_threadpool(
        lambda: state.services.store.deployments.delete(name, actor=caller.subject, source=caller.source or "unknown")
    )
    return JSONResponse(deployment.to_dict())


def _revision_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) < 1:
        raise NotFound(f"no revision {text[:20]!r}", hint="revisions are numbered 1, 2, 3...")
    return int(text)
