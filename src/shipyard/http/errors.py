"""Errors become ``{"error": ..., "code": ...}`` with the status their class names: mapped
once, here. A 401 says how to authenticate (``WWW-Authenticate: Bearer``)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shipyard.errors import ShipyardError
from shipyard.http.responses import JSONResponse

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


def error_response(exc: ShipyardError) -> Response:
    headers = {}
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


async def shipyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    if exc.http_status >= 500:
        logger.warning("request failed: %s (%s)", exc.code, exc.message)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if exc.status_code != 404 else f"no route for {request.method} {request.url.path[:200]}"
    return JSONResponse({"error": message, "code": code}, status_code=exc.status_code, headers=exc.headers)


async def unhandled_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path[:200])
    return JSONResponse({"error": "internal server error", "code": "internal"}, status_code=500)
