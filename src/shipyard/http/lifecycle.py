"""The management API of a version's lifecycle: ``POST /api/models/{name}/versions/{version}/``
``deprecate``, ``retire``, ``reinstate``, ``archive``, ``restore`` (``docs/lifecycle.md``).

Each takes a JSON object (``{}`` when there is nothing to say), answers the version's record,
and answers once every worker of this server serves the change (other servers see it within
one poll). The change is audited as the calling key, from the caller's address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.context import Caller
from shipyard.errors import InvalidRequest, MalformedRequest
from shipyard.governance.scopes import ALIASES_WRITE
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.state import AppState, app_state
from shipyard.registry.lifecycle import parse_when
from shipyard.registry.refs import check_model_name, parse_version
from shipyard.registry.types import ModelVersion

MAX_REASON = 4096


async def deprecate(request: Request) -> Response:
    state, caller, name, version, body = await _call(request, {"sunset_at", "successor", "reason"})
    sunset = body.get("sunset_at")
    record = await run_in_threadpool(
        state.services.store.lifecycle.deprecate,
        name,
        version,
        sunset_at=parse_when(_text(body, "sunset_at"), what="sunset_at") if sunset is not None else None,
        successor=_optional_text(body, "successor"),
        reason=_optional_text(body, "reason"),
        **_who(caller),
    )
    return await _answer(state, record)


async def retire(request: Request) -> Response:
    state, caller, name, version, body = await _call(request, {"successor", "reason", "archive"})
    archive = body.get("archive", False)
    if not isinstance(archive, bool):
        raise InvalidRequest("'archive' must be true or false")
    reason = _optional_text(body, "reason")
    record = await run_in_threadpool(
        state.services.store.lifecycle.retire,
        name,
        version,
        successor=_optional_text(body, "successor"),
        reason=reason,
        **_who(caller),
    )
    if archive:
        record = await run_in_threadpool(state.services.registry.archiver.archive_retired, name, version,
                                         reason=reason, **_who(caller))  # fmt: skip
    return await _answer(state, record)


async def reinstate(request: Request) -> Response:
    return await _simple(request, lambda state: state.services.store.lifecycle.reinstate)


async def archive(request: Request) -> Response:
    return await _simple(request, lambda state: state.services.registry.archiver.archive)


async def restore(request: Request) -> Response:
    return await _simple(request, lambda state: state.services.registry.archiver.restore)


async def _simple(request: Request, action: Callable[[AppState], Callable[..., ModelVersion]]) -> Response:
    state, caller, name, version, body = await _call(request, {"reason"})
    record = await run_in_threadpool(
        action(state), name, version, reason=_optional_text(body, "reason"), **_who(caller)
    )
    return await _answer(state, record)


async def _call(request: Request, fields: set[str]) -> tuple[AppState, Caller, str, int, dict[str, Any]]:
    name = check_model_name(request.path_params["name"])
    version = parse_version(request.path_params["version"])
    state = app_state(request)
    caller = state.authorize(request, ALIASES_WRITE, name)
    body = json_object(await request.body(), empty_ok=True)
    unknown = set(body) - fields
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise MalformedRequest(f"unexpected fields: {', '.join(sorted(unknown))[:200]} (this route takes {allowed})")
    return state, caller, name, version, body


def _who(caller: Caller) -> dict[str, str]:
    return {"actor": caller.subject, "source": caller.source or "unknown"}


def _text(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise InvalidRequest(f"{key!r} must be a string")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    if body.get(key) is None:
        return None
    value = _text(body, key)
    if key == "reason" and len(value) > MAX_REASON:
        raise InvalidRequest(f"'reason' has at most {MAX_REASON} characters")
    return value


async def _answer(state: AppState, record: ModelVersion) -> Response:
    # Every worker of this server serves the change before this answers; other servers
    # within one poll interval.
    await state.manager.follow(f"{record.ref} is {record.lifecycle} now")
    return JSONResponse(record.to_dict())
