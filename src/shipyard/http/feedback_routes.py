"""Feedback over HTTP: ``POST /feedback`` and ``GET /feedback/{request_id}``, and their
entries in the route table (``http/routes``).

A feedback names a logged prediction by its request id (the ``X-Request-Id`` of the
answer) or by the caller's own key (``X-Prediction-Key``; the latest prediction that same
caller sent with it). The prediction is found in the prediction log (``LogLookup``: the
segments not yet compacted and the Parquet parts) and the feedback is stored with its
target, model, version, variant and time (``registry/sql/feedback.py``).

Both routes need the ``feedback`` scope; it is checked at the edge on "some model", then
here on the prediction's target (a deployment's name, or the model's). Answers: 201 when
something new was recorded, 200 when all of it was there already, 404 for a request id or
key the log does not have (or a failed request: it predicted nothing), 409 when a fact has
another value already, 400 for a malformed body, an unknown field, a non-numeric value or
outcome, or a label whose type is not that of the model's ``predict`` output. A batch
``{"items": [...]}`` (up to 1000) records each item on its own and gives each its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.context import Caller
from shipyard.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
)
from shipyard.fs.pii_key import settings_pii_key
from shipyard.governance import scopes as sc
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import JSON, Reply, RouteSpec, ok
from shipyard.http.schemas import ref
from shipyard.http.state import app_state, caller_of
from shipyard.monitoring.feedback import FeedbackRecorder, Item
from shipyard.monitoring.predlog.lookup import lookup_for
from shipyard.registry.sql.feedback import Feedback, FeedbackResult, check_feedback, check_request_id

MAX_ITEMS = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
_FIELDS = frozenset({"request_id", "key", "row", "label", "value", "outcomes", "attributes"})
_BOTH = (200, 201)


async def post_feedback(request: Request) -> Response:
    """One feedback item, or ``{"items": [...]}``."""
    caller = caller_of(request)
    body = json_object(await _read_capped(request))
    if "items" in body:
        if set(body) != {"items"}:
            raise MalformedRequest('a batch body has only "items"')
        items = body["items"]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
            raise InvalidRequest(f'"items" is a list of 1 to {MAX_ITEMS} feedback objects')
        parsed = [_parse(item, f"items[{i}]") for i, item in enumerate(items)]
        results = await run_in_threadpool(_record_batch, _recorder(request), caller, parsed)
        created = sum(1 for r in results if r["status"] == 201)
        summary = {
            "created": created,
            "existing": sum(1 for r in results if r["status"] == 200),
            "failed": sum(1 for r in results if r["status"] not in _BOTH),
            "results": results,
        }
        return JSONResponse(summary, status_code=201 if created else 200)
    item = _parse(body, "body")
    result = await run_in_threadpool(_record_one, _recorder(request), caller, item)
    return JSONResponse(result.to_dict(), status_code=201 if result.created else 200)


async def get_feedback(request: Request) -> Response:
    """Every row's feedback of a request id (404 when neither feedback nor the prediction exists)."""
    state = app_state(request)
    caller = caller_of(request)
    request_id = check_request_id(request.path_params["request_id"])

    def work() -> dict[str, Any]:
        rows = state.services.store.feedback.for_request(request_id)
        targets = {str(r["target"]) for r in rows}
        if not rows:
            record = lookup_for(state.services.settings.home).find(request_id)
            if record is None:
                raise NotFound(f"no logged prediction and no feedback for request {request_id!r}")
            targets = {str(record.get("target"))}
        for target in targets:
            if not caller.allows(sc.FEEDBACK, target):
                raise Forbidden(f"this key may not read feedback on {target!r}")
        return {"request_id": request_id, "feedback": rows}

    return JSONResponse(await run_in_threadpool(work))


def _parse(value: Any, where: str) -> Item:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where} must be an object")
    unknown = set(value) - _FIELDS
    if unknown:
        raise InvalidRequest(f"{where}: unknown fields: {', '.join(sorted(map(str, unknown)))[:200]}")
    request_id, key = value.get("request_id"), value.get("key")
    if (request_id is None) == (key is None):
        raise InvalidRequest(f'{where}: give "request_id" or "key" (one of them)')
    if request_id is not None:
        check_request_id(request_id)
    if key is not None:
        try:
            check_request_id(key)
        except InvalidRequest:
            raise InvalidRequest(f'{where}: "key" is a string of 1 to 128 visible characters') from None
    row = value.get("row", 0)
    if isinstance(row, bool) or not isinstance(row, int) or row < 0:
        raise InvalidRequest(f'{where}: "row" must be a non-negative integer')
    outcomes, attributes = value.get("outcomes", {}), value.get("attributes", {})
    if not isinstance(outcomes, dict) or not isinstance(attributes, dict):
        raise InvalidRequest(f'{where}: "outcomes" and "attributes" are objects of name to value')
    feedback = Feedback(label=value.get("label"), value=value.get("value"), outcomes=outcomes, attributes=attributes)
    try:
        # Types that do not depend on the model (a label's does) are checked before any lookup.
        check_feedback(feedback, label_kind=None)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{where}: {exc.message}", hint=exc.hint) from None
    return Item(request_id, key, row, feedback)


def _record_one(
    recorder: FeedbackRecorder, caller: Caller, item: Item, deadline: float | None = None
) -> FeedbackResult:
    return recorder.record(
        item,
        caller=caller.subject,
        recorded_by=caller.subject,
        allowed=lambda t: caller.allows(sc.FEEDBACK, t),
        deadline=deadline,
    )


def _record_batch(recorder: FeedbackRecorder, caller: Caller, items: list[Item]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    deadline = recorder.deadline()  # one patience for the whole batch
    for item in items:
        try:
            result = _record_one(recorder, caller, item, deadline)
        except (NotFound, Conflict, InvalidRequest, Forbidden) as exc:
            results.append(
                {"request_id": item.request_id, "key": item.key, "status": exc.http_status, "error": exc.message,
                 "code": exc.code}
            )  # fmt: skip
            continue
        results.append({**result.to_dict(), "key": item.key, "status": 201 if result.created else 200})
    return results


def _recorder(request: Request) -> FeedbackRecorder:
    """This app's recorder, made on first use (its label-type cache lives with the app)."""
    found: FeedbackRecorder | None = getattr(request.app.state, "feedback_recorder", None)
    if found is None:
        services = app_state(request).services
        lookup = lookup_for(services.settings.home)
        settings = services.settings
        patience = 0.0 if settings.log_mode == "off" else max(1.0, 20 * settings.log_flush_ms / 1000)
        found = FeedbackRecorder(
            services.store, lookup, patience=min(patience, 5.0), pii_key=settings_pii_key(settings)
        )
        request.app.state.feedback_recorder = found
    return found


async def _read_capped(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"a feedback body is at most {MAX_BODY_BYTES} bytes", hint=f"send at most {MAX_ITEMS} items per request"
            )
        chunks.append(chunk)
    return b"".join(chunks)


_ERRORS: Mapping[str, str] = {
    "400": "Malformed, an unknown field, or a value of the wrong type (a label unlike the model's predict output)",
    "404": "No logged prediction with that request id (or key of this caller), or it failed",
    "409": "Another value is recorded already for one of these facts",
}

FEEDBACK_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "POST",
        "/feedback",
        post_feedback,
        sc.FEEDBACK,
        "some",
        "record_feedback",
        "Record ground truth, outcomes or attributes of logged predictions (one, or up to 1000)",
        "monitoring",
        body="inference",  # up to 1000 items; the endpoint caps the body at 2 MiB
        request={JSON: ref("FeedbackRequest")},
        replies=(
            Reply("201", "Recorded", {JSON: {"anyOf": [ref("FeedbackRecorded"), ref("FeedbackBatchResult")]}}),
            Reply(
                "200",
                "All of it was recorded already (a batch: nothing was created)",
                {JSON: {"anyOf": [ref("FeedbackRecorded"), ref("FeedbackBatchResult")]}},
            ),
            *(Reply(status, text, {JSON: ref("Error")}) for status, text in _ERRORS.items()),
        ),
        enforce_media_type=True,
    ),
    RouteSpec(
        "GET",
        "/feedback/{request_id}",
        get_feedback,
        sc.FEEDBACK,
        "some",
        "show_feedback",
        "The feedback recorded for a request id, by row",
        "monitoring",
        replies=(ok("FeedbackList"), Reply("404", "No such prediction and no feedback", {JSON: ref("Error")})),
    ),
)
