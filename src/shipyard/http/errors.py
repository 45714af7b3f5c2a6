"""Errors become responses with the status their class names: mapped once, here.

The body takes the form of the protocol the request was addressed to, decided when the
response is sent (``ErrorResponse``), because an error may be raised before any endpoint
runs (the edge: 401, 403, 413, 429) as well as in one:

- MLflow's scoring routes (``/invocations``, ``/models/{name}/invocations``) answer as
  MLflow's scoring server does, ``{"error_code": "BAD_REQUEST", "message": ...}``, which
  MLflow's clients read; our own fields follow (``error``, ``code``, ``hint``), so the body
  is still the ``Error`` of the OpenAPI document and every other client reads it as before.
- Every other route answers ``{"error": ..., "code": ...}`` (KServe V1 and the Open
  Inference Protocol read ``error``); on the upload route the hint names upload fields,
  not CLI flags (``http/upload_hints``).

A 401 says how to authenticate (``WWW-Authenticate: Bearer``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shipyard.errors import ShipyardError
from shipyard.http.responses import JSONResponse
from shipyard.http.upload_hints import for_upload, is_upload

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
WWW_AUTHENTICATE = 'Bearer realm="shipyard"'

# MLflow's error codes (``mlflow.protos.databricks_pb2.ErrorCode``) by the status we answer,
# chosen so that MLflow's own code → status table maps each back to the same class of
# status; 413, 415 and 421 have no MLflow code of their own and are the caller's to fix.
MLFLOW_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    409: "RESOURCE_CONFLICT",
    410: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    421: "BAD_REQUEST",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def is_mlflow_scoring(path: str) -> bool:
    """Whether ``path`` is one of MLflow's scoring routes (whose errors take MLflow's form)."""
    return path == "/invocations" or (path.startswith("/models/") and path.endswith("/invocations"))


def mlflow_error_code(status: int) -> str:
    return MLFLOW_ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")


def error_body(body: dict[str, Any], status: int, *, path: str, method: str) -> dict[str, Any]:
    """``body`` (``{"error", "code"[, "hint"]}``) in the form the route at ``path`` speaks."""
    if method == "POST" and is_upload(path) and "hint" in body:
        body = {**body, "hint": for_upload(body["hint"])}
    if not is_mlflow_scoring(path):
        return body
    return {"error_code": mlflow_error_code(status), "message": body["error"], **body}


class ErrorResponse(JSONResponse):
    """An error answer whose body is rendered for the route it answers, when it is sent."""

    def __init__(self, body: dict[str, Any], status_code: int, headers: dict[str, str] | None = None) -> None:
        self.error = body
        self.extra_headers = dict(headers or {})
        super().__init__(body, status_code=status_code, headers=self.extra_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        shaped = error_body(self.error, self.status_code, path=scope.get("path", ""), method=scope.get("method", ""))
        if shaped is not self.error:
            self.body = self.render(shaped)
            self.init_headers(self.extra_headers)
        await super().__call__(scope, receive, send)


def error_response(exc: ShipyardError) -> Response:
    headers = {}
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return ErrorResponse(exc.to_dict(), exc.http_status, headers)


async def shipyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    if exc.http_status >= 500:
        logger.warning("request failed: %s (%s)", exc.code, exc.message)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if exc.status_code != 404 else f"no route for {request.method} {request.url.path[:200]}"
    return ErrorResponse({"error": message, "code": code}, exc.status_code, dict(exc.headers or {}))


async def unhandled_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path[:200])
    return ErrorResponse({"error": "internal server error", "code": "internal"}, 500)
