"""Deployments over HTTP (``/api/deployments``): list, show, history, apply, delete, and
operating one: status, promote, rollback, pause, resume, the shadow and experiment reports,
and outcomes.

The edge has checked the scope (``http/routes``): ``models.read`` on the deployment's name to
read (status and reports too), ``deployments.write`` on it to apply, delete, promote, roll
back, pause or resume, and ``infer`` on it to report outcomes (whoever may predict with a
deployment may say how its predictions turned out). An apply is the CLI's ``deploy apply``:
the same parse, registry checks and single-transaction store (``rollout/service.py``); the
operations are ``rollout/operations``, as ``shipyard deploy ...`` calls them. The caller's
subject and address are recorded as who did it and from where. A move made here is applied
at once by this server when it serves the deployment (``ModelManager.refresh``); the others
follow at their next poll.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.context import Caller
from shipyard.errors import Conflict, InvalidRequest, MalformedRequest, NotFound, PayloadTooLarge
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.state import AppState, app_state
from shipyard.registry.refs import check_model_name
from shipyard.rollout import operations
from shipyard.rollout.service import apply_spec
from shipyard.rollout.spec import is_metric_name

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 4096
MAX_WINDOW_SECONDS = 86400.0
MAX_OUTCOMES = 1000
MAX_OUTCOME_BODY_BYTES = 1024 * 1024
"""An outcomes body: 1000 outcomes with long request ids fit well within it."""
_APPLY_FIELDS = frozenset({"spec", "reason"})
_PROMOTE_FIELDS = frozenset({"variant", "reason", "min_agreement"})
_ROLLBACK_FIELDS = frozenset({"to_revision", "reason"})
_NOTE_FIELDS = frozenset({"reason"})
_OUTCOME_FIELDS = frozenset({"request_id", "metric", "value"})


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
    if applied.changed:
        await _apply_now(state, name)
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


# -- operating a deployment (rollout/operations, as ``shipyard deploy ...`` does) -----------
async def status(request: Request) -> Response:
    """``?window=SECONDS`` (default 60): the split, traffic per variant and the rollout."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    window = _query_number(request, "window", operations.STATUS_WINDOW_SECONDS, maximum=MAX_WINDOW_SECONDS)
    found = await run_in_threadpool(lambda: operations.status(state.services.store, name, window_seconds=window))
    return JSONResponse(found)


async def promote(request: Request) -> Response:
    """``{"variant"?: str, "reason"?: str}``: the canary (or ``variant``) becomes the primary."""
    name, state, caller, body = await _change(request, _PROMOTE_FIELDS)
    variant = _optional_text(body, "variant", 128)
    reason = _reason(body)
    minimum = body.get("min_agreement")
    if minimum is not None and (
        isinstance(minimum, bool) or not isinstance(minimum, int | float) or not 0 <= minimum <= 1
    ):
        raise InvalidRequest('"min_agreement" must be a number between 0 and 1')
    applied = await run_in_threadpool(
        lambda: operations.promote(
            state.services.store, name, variant=variant, reason=reason, min_agreement=minimum, **_who(caller)
        )
    )
    await _apply_now(state, name)
    return JSONResponse(applied.to_dict())


async def rollback(request: Request) -> Response:
    """``{"to_revision"?: int, "reason"?: str}``: an earlier revision's spec, as a new revision."""
    name, state, caller, body = await _change(request, _ROLLBACK_FIELDS)
    target = body.get("to_revision")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int) or not 1 <= target < 2**31):
        raise InvalidRequest('"to_revision" must be a revision number (an integer from 1)')
    reason = _reason(body)
    applied = await run_in_threadpool(
        lambda: operations.rollback(state.services.store, name, to_revision=target, reason=reason, **_who(caller))
    )
    await _apply_now(state, name)
    return JSONResponse(applied.to_dict())


async def pause(request: Request) -> Response:
    """``{"reason"?: str}``: hold the rollout where it is."""
    return await _set_state(request, operations.pause)


async def resume(request: Request) -> Response:
    """``{"reason"?: str}``: go on with the rollout; the step bakes again from now."""
    return await _set_state(request, operations.resume)


async def shadow_report(request: Request) -> Response:
    """``?since=&until=`` (Unix seconds or ISO 8601; default: the last hour)."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    since, until = _query_moment(request, "since"), _query_moment(request, "until")
    report = await run_in_threadpool(
        lambda: operations.shadow_report(state.services.store, name, since=since, until=until)
    )
    return JSONResponse(report)


async def experiment_report(request: Request) -> Response:
    """``?metric=NAME`` (default: the experiment's): arms, comparisons, recommendation."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    metric = request.query_params.get("metric")
    if metric is not None and not is_metric_name(metric):
        raise InvalidRequest("metric is a name (letters, digits, '_', '.', ':', '-')")
    report = await run_in_threadpool(lambda: operations.experiment_report_of(state.services.store, name, metric=metric))
    return JSONResponse(report)


async def record_outcomes(request: Request) -> Response:
    """One outcome ``{"request_id", "metric", "value"}`` (201 created, 200 the same value was
    there, 409 another value, 404 an unknown request id), or ``{"outcomes": [...]}`` (up to
    1000, each recorded on its own: 201 when any was created, else 200, with each item's
    status in ``results``). The caller's subject is recorded as who reported it."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "infer", name)
    body = json_object(await _read_capped(request, MAX_OUTCOME_BODY_BYTES))
    if "outcomes" in body:
        _no_unknown(body, frozenset({"outcomes"}))
        items = body["outcomes"]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_OUTCOMES:
            raise InvalidRequest(f'"outcomes" is a list of 1 to {MAX_OUTCOMES} outcomes')
        batch = [_outcome(item, f"outcomes[{i}]") for i, item in enumerate(items)]
        results = await run_in_threadpool(_record_batch, state, name, batch, caller.subject)
        created = sum(1 for r in results if r["status"] == 201)
        summary = {
            "deployment": name,
            "created": created,
            "existing": sum(1 for r in results if r["status"] == 200),
            "failed": sum(1 for r in results if r["status"] >= 400),
            "results": results,
        }
        return JSONResponse(summary, status_code=201 if created else 200)
    request_id, metric, value = _outcome(body, "body")
    result = await run_in_threadpool(
        lambda: operations.record_outcome(
            state.services.store, name, request_id, metric, value, recorded_by=caller.subject
        )
    )
    return JSONResponse(result.to_dict(), status_code=201 if result.created else 200)


Outcome = tuple[str, str, float]


def _outcome(value: Any, where: str) -> Outcome:
    """``(request_id, metric, value)`` of one outcome object; 400 naming ``where`` if malformed."""
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where} must be an object {{request_id, metric, value}}")
    unknown = set(value) - _OUTCOME_FIELDS
    if unknown:
        raise MalformedRequest(f"{where}: unexpected fields: {', '.join(sorted(unknown))[:200]}")
    request_id, metric, number = value.get("request_id"), value.get("metric"), value.get("value")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidRequest(f'{where}: "request_id" must be a non-empty string')
    if not isinstance(metric, str) or not is_metric_name(metric):
        raise InvalidRequest(f'{where}: "metric" must be a metric name (letters, digits, _ . : -)')
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise InvalidRequest(f'{where}: "value" must be a finite number')
    return request_id, metric, float(number)


def _record_batch(state: AppState, name: str, batch: list[Outcome], subject: str) -> list[dict[str, Any]]:
    """Record each outcome of ``batch`` on its own (on a worker thread); per item, its status
    (201, 200, or the error's) and the result or the error."""
    store = state.services.store
    store.deployments.get(name)  # an unknown deployment is one 404, not a thousand
    results: list[dict[str, Any]] = []
    for request_id, metric, value in batch:
        try:
            result = operations.record_outcome(store, name, request_id, metric, value, recorded_by=subject)
        except (NotFound, Conflict, InvalidRequest) as exc:
            results.append(
                {"request_id": request_id, "metric": metric, "status": exc.http_status,
                 "error": exc.message, "code": exc.code}
            )  # fmt: skip
            continue
        results.append({**result.to_dict(), "status": 201 if result.created else 200})
    return results


async def _change(request: Request, fields: frozenset[str]) -> tuple[str, AppState, Caller, dict[str, Any]]:
    """The name, state, caller (``deployments.write`` on the name) and the checked body of a move."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "deployments.write", name)
    body = json_object(await request.body(), empty_ok=True)
    _no_unknown(body, fields)
    return name, state, caller, body


async def _set_state(request: Request, change: Callable[..., dict[str, Any]]) -> Response:
    name, state, caller, body = await _change(request, _NOTE_FIELDS)
    reason = _reason(body)
    record = await run_in_threadpool(lambda: change(state.services.store, name, reason=reason, **_who(caller)))
    await _apply_now(state, name)
    return JSONResponse(record)


async def _apply_now(state: AppState, name: str) -> None:
    """Every worker of this server applies a move before the call returns when it serves the
    deployment (other servers at their next poll); a worker that cannot is logged, the move
    is stored either way."""
    if state.manager.deployment(name) is None:
        return
    try:
        await state.manager.follow(f"deployment {name} changed")
    except Exception:  # the move is committed; a worker that did not follow does at its next poll
        logger.warning("deployment %s changed, but not every worker of this server follows yet", name, exc_info=True)


def _who(caller: Caller) -> dict[str, Any]:
    return {"actor": caller.subject, "source": caller.source or "unknown"}


def _no_unknown(body: dict[str, Any], fields: frozenset[str]) -> None:
    unknown = set(body) - fields
    if unknown:
        raise MalformedRequest(f"unexpected fields: {', '.join(sorted(unknown))[:200]}")


def _optional_text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
        raise InvalidRequest(f'"{key}" must be text of 1 to {limit} characters')
    return value


def _reason(body: dict[str, Any]) -> str | None:
    return _optional_text(body, "reason", MAX_REASON_CHARS)


def _query_number(request: Request, key: str, default: float, *, maximum: float) -> float:
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"{key} is a number of seconds, not {text[:40]!r}") from None
    if not (0 < value <= maximum):
        raise InvalidRequest(f"{key} is more than 0 and at most {maximum:g} seconds")
    return value


def _query_moment(request: Request, key: str) -> float | None:
    """A query parameter as Unix seconds: given as Unix seconds or ISO 8601 (UTC unless it
    names its offset); None when absent."""
    text = request.query_params.get(key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(f"{key} is Unix seconds or an ISO 8601 time, not {text[:40]!r}") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"{key} is Unix seconds or an ISO 8601 time, not {text[:40]!r}")
    return value


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"an outcomes body is at most {limit} bytes", hint=f"send at most {MAX_OUTCOMES} outcomes per request"
            )
        chunks.append(chunk)
    return b"".join(chunks)
