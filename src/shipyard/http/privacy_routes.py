"""Retention and erasure over HTTP (``governance.admin``, a grant over every model):

- ``POST /api/retention/run`` ``{"dry_run"?}``: purge every target's prediction log,
  feedback and review tickets past its ``retention_days`` now (``monitoring/retention.py``);
- ``POST /api/erasure`` ``{"key": K}`` or ``{"field": F, "value": V}`` (+ ``dry_run``,
  ``reason``): erase one subject everywhere (``monitoring/erasure.py``), audited
  ``privacy.erase`` with the counts; the answer names the subject only by its keyed HMAC.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import InvalidRequest, MalformedRequest
from shipyard.fs.pii_key import settings_pii_key
from shipyard.governance import scopes as sc
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import JSON, Reply, RouteSpec, ok
from shipyard.http.schemas import ref
from shipyard.http.state import app_state, caller_of
from shipyard.monitoring.erasure import Subject, erase_subject
from shipyard.monitoring.retention import run_retention

_TAG = "governance"
MAX_REASON_CHARS = 4096


async def retention_run(request: Request) -> Response:
    caller = caller_of(request)
    body = json_object(await request.body(), empty_ok=True)
    _only(body, {"dry_run"})
    dry_run = _flag(body, "dry_run")
    services = app_state(request).services
    settings = services.settings
    report = await run_in_threadpool(
        lambda: run_retention(
            settings.home,
            services.store,
            actor=caller.subject,
            source=caller.source or "unknown",
            dry_run=dry_run,
            pii_key=settings_pii_key(settings),
        )
    )
    return JSONResponse(report.to_dict())


async def erasure(request: Request) -> Response:
    caller = caller_of(request)
    body = json_object(await request.body())
    _only(body, {"key", "field", "value", "dry_run", "reason"})
    subject = Subject.parse(key=body.get("key"), field=body.get("field"), value=body.get("value"))
    dry_run = _flag(body, "dry_run")
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise InvalidRequest(f'"reason" is a string of at most {MAX_REASON_CHARS} characters')
    services = app_state(request).services
    settings = services.settings
    report = await run_in_threadpool(
        lambda: erase_subject(
            settings.home,
            services.store,
            subject,
            pii_key=settings_pii_key(settings),
            actor=caller.subject,
            source=caller.source or "unknown",
            reason=reason,
            dry_run=dry_run,
        )
    )
    return JSONResponse(report.to_dict())


def _only(body: dict[str, object], fields: set[str]) -> None:
    unknown = set(body) - fields
    if unknown:
        raise MalformedRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")


def _flag(body: dict[str, object], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f'"{name}" is true or false')
    return value


_ERROR = {JSON: ref("Error")}
_BAD = Reply("400", "Malformed, or a bad value", _ERROR)

PRIVACY_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "POST",
        "/api/retention/run",
        retention_run,
        sc.GOVERNANCE_ADMIN,
        "server",
        "run_retention",
        "Purge prediction logs, feedback and review tickets past each target's retention_days (admins only)",
        _TAG,
        body="json",
        request={JSON: ref("RetentionRun")},
        replies=(ok("RetentionReport"), _BAD),
        enforce_media_type=True,
    ),
    RouteSpec(
        "POST",
        "/api/erasure",
        erasure,
        sc.GOVERNANCE_ADMIN,
        "server",
        "erase_subject",
        "Erase a subject (prediction key, or field value) from logs, feedback and reviews (admins only)",
        _TAG,
        body="json",
        request={JSON: ref("ErasureRequest")},
        replies=(ok("ErasureReport"), _BAD),
        enforce_media_type=True,
    ),
)
