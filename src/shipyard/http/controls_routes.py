"""``/api/controls/{target}``: the serving controls of a model or a deployment (review rules,
guardrails, fallback, PII marks, retention; ``governance/controls.py``).

Reading needs ``models.read`` on the target; setting and deleting ``governance.admin``
(each change a new revision, audited ``controls.set`` / ``controls.delete``). Servers follow
a change within ``alias_poll_seconds``.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InvalidRequest, MalformedRequest, NotFound
from shipyard.governance import scopes as sc
from shipyard.governance.controls import parse_controls
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import JSON, Reply, RouteSpec, ok
from shipyard.http.schemas import ref
from shipyard.http.state import app_state, caller_of
from shipyard.registry.refs import check_model_name

_TAG = "governance"
MAX_REASON_CHARS = 4096


async def show_controls(request: Request) -> Response:
    target = check_model_name(request.path_params["target"])
    store = app_state(request).services.store
    stored = await run_in_threadpool(store.controls.get, target)
    if stored is None:
        raise NotFound(f"{target!r} has no controls", hint="an admin sets them: shipyard controls set")
    return JSONResponse(stored.to_dict())


async def set_controls(request: Request) -> Response:
    target = check_model_name(request.path_params["target"])
    caller = caller_of(request)
    body = json_object(await request.body())
    unknown = set(body) - {"controls", "reason"}
    if unknown:
        raise MalformedRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    if "controls" not in body:
        raise InvalidRequest('"controls" is required (the controls document)')
    reason = _reason(body.get("reason"))
    controls = parse_controls(body["controls"], source="controls")
    store = app_state(request).services.store
    stored = await run_in_threadpool(
        lambda: store.controls.set(
            target, controls, actor=caller.subject, source=caller.source or "unknown", reason=reason
        )
    )
    return JSONResponse(stored.to_dict())


async def delete_controls(request: Request) -> Response:
    target = check_model_name(request.path_params["target"])
    caller = caller_of(request)
    store = app_state(request).services.store
    await run_in_threadpool(
        lambda: store.controls.delete(target, actor=caller.subject, source=caller.source or "unknown")
    )
    return Response(status_code=204)


def _reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON_CHARS:
        raise InvalidRequest(f'"reason" is a string of at most {MAX_REASON_CHARS} characters')
    return value


_ERROR = {JSON: ref("Error")}
_PATH = "/api/controls/{target}"

CONTROLS_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        _PATH,
        show_controls,
        sc.MODELS_READ,
        "model",
        "show_controls",
        "The serving controls of a model or deployment (review, guardrails, fallback, PII, retention)",
        _TAG,
        model_param="target",
        replies=(ok("Controls"), Reply("404", "No controls for this target", _ERROR)),
    ),
    RouteSpec(
        "PUT",
        _PATH,
        set_controls,
        sc.GOVERNANCE_ADMIN,
        "model",
        "set_controls",
        "Replace the serving controls of a model or deployment (admins only; audited)",
        _TAG,
        model_param="target",
        body="json",
        request={JSON: ref("ControlsSet")},
        replies=(ok("Controls"), Reply("400", "Malformed, or a bad controls document", _ERROR)),
        enforce_media_type=True,
    ),
    RouteSpec(
        "DELETE",
        _PATH,
        delete_controls,
        sc.GOVERNANCE_ADMIN,
        "model",
        "delete_controls",
        "Remove the serving controls of a model or deployment (admins only; audited)",
        _TAG,
        model_param="target",
        replies=(Reply("204", "Deleted"), Reply("404", "No controls for this target", _ERROR)),
    ),
)
