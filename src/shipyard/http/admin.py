"""Keys and the audit trail over HTTP: ``/api/keys`` (``keys.admin``) and ``/api/audit``
(``audit.read``). The edge has checked the scope before these run (``http/routes``).

A created key's token is in the response once and nowhere else; listing shows everything
but the secret's hash.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InvalidRequest, MalformedRequest, NotFound
from shipyard.governance.keys import make_grants, parse_duration
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.state import app_state
from shipyard.registry.sql.audit import AuditFilter

_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_CREATE_FIELDS = frozenset({"name", "role", "models", "expires"})
MAX_AUDIT_LIMIT = 1000


async def list_keys(request: Request) -> Response:
    state = app_state(request)
    state.authorize(request, "keys.admin", "*")
    records = await run_in_threadpool(state.services.keys.list)
    now = datetime.now(UTC)
    return JSONResponse({"keys": [r.to_dict(now) for r in records]})


async def create_key(request: Request) -> Response:
    state = app_state(request)
    caller = state.authorize(request, "keys.admin", "*")
    body = json_object(await request.body())
    unknown = set(body) - _CREATE_FIELDS
    if unknown:
        raise MalformedRequest(f"unexpected fields: {', '.join(sorted(unknown))[:200]}")
    name, role = body.get("name"), body.get("role")
    models = body.get("models", ["*"])
    expires = body.get("expires", "never")
    if not isinstance(name, str) or not isinstance(role, str):
        raise InvalidRequest('the body needs "name" and "role" strings')
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise InvalidRequest('"models" must be a list of model-name patterns')
    if not isinstance(expires, str):
        raise InvalidRequest('"expires" must be a duration like "30d", "12h", "90m" or "never"')
    grants = make_grants([role], models)
    lifetime = parse_duration(expires)
    now = datetime.now(UTC)
    record, token = await run_in_threadpool(
        state.services.keys.create,
        name,
        grants,
        expires_at=now + lifetime if lifetime is not None else None,
        created_by=caller.subject,
        source=caller.source or "unknown",
    )
    return JSONResponse({**record.to_dict(now), "token": token}, status_code=201)


async def revoke_key(request: Request) -> Response:
    state = app_state(request)
    caller = state.authorize(request, "keys.admin", "*")
    key_id = request.path_params["id"]
    if not _KEY_ID.match(key_id):
        raise NotFound("no API key with that id", hint="`shipyard keys list` shows the ids")
    record = await run_in_threadpool(
        state.services.keys.revoke, key_id, actor=caller.subject, source=caller.source or "unknown"
    )
    return JSONResponse(record.to_dict(datetime.now(UTC)))


async def list_audit(request: Request) -> Response:
    state = app_state(request)
    state.authorize(request, "audit.read", "*")
    query = request.query_params
    unknown = set(query) - {"action", "actor", "resource", "after_seq", "limit"}
    if unknown:
        raise InvalidRequest(f"unknown query parameters: {', '.join(sorted(unknown))[:200]}")
    filters = AuditFilter(
        action=query.get("action") or None,
        actor=query.get("actor") or None,
        resource=query.get("resource") or None,
        after_seq=_int_param(query.get("after_seq"), "after_seq", 0, 2**62),
        limit=_int_param(query.get("limit"), "limit", 1, MAX_AUDIT_LIMIT) or 100,
    )
    entries = await run_in_threadpool(state.services.store.audit.list, filters)
    return JSONResponse({"entries": [e.to_dict() for e in entries]})


async def verify_audit(request: Request) -> Response:
    state = app_state(request)
    state.authorize(request, "audit.read", "*")
    report = await run_in_threadpool(state.services.store.audit.verify)
    return JSONResponse(report.to_dict())


def _int_param(raw: str | None, name: str, low: int, high: int) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}")
    return int(raw)
