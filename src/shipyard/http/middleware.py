"""The edge every request passes: request id, body limit, caller, access log, HTTP metrics.

A pure ASGI middleware (no BaseHTTPMiddleware: it would copy every body and cost the hot
path). An oversized body is refused from its Content-Length before any of it is read; a
body without one (chunked) is counted as it arrives and refused as soon as it passes the
limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.context import request_id_from
from shipyard.errors import MalformedRequest, PayloadTooLarge, ShipyardError
from shipyard.http.errors import error_response
from shipyard.logs import ACCESS_LOGGER
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.serving.access import AccessPolicy

access_logger = logging.getLogger(ACCESS_LOGGER)

REQUEST_ID_HEADER = b"x-request-id"


def route_group(path: str) -> str:
    """A bounded label for metrics: the protocol family of a path, never the raw path."""
    if path.startswith("/v2"):
        return "v2"
    if path.startswith("/v1"):
        return "v1"
    if path.endswith("/invocations") or path in ("/ping", "/health", "/version"):
        return "mlflow"
    if path.startswith("/api"):
        return "management"
    if path == "/metrics":
        return "metrics"
    return "other"


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: Callable[[str], int],
        access: AccessPolicy,
        metrics: ServingMetrics,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.access = access
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = {k.lower(): v for k, v in scope["headers"]}
        request_id = request_id_from(_header(headers, REQUEST_ID_HEADER))
        rid = request_id.encode()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        path: str = scope["path"]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, rid)]
            await send(message)

        try:
            limit = self.max_body_bytes(path)
            length = _content_length(headers)
            if length is not None and length > limit:
                raise PayloadTooLarge(
                    f"request body of {length} bytes is over the limit of {limit} bytes",
                    hint="send fewer rows per request, or raise max_body_bytes",
                )
            state["caller"] = self.access.identify(
                {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
            )
            await self.app(scope, _limited(receive, limit), send_wrapper)
        except ShipyardError as exc:
            # Raised here, before the app ran (or from the app's receive): render it ourselves.
            await error_response(exc)(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_http(route_group(path), status)
            if self.access_log:
                access_logger.info(
                    "%s %s %d",
                    scope["method"],
                    path[:200],
                    status,
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": scope["method"],
                            "path": path[:200],
                            "status": status,
                            "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
                            "client": (scope.get("client") or ("", 0))[0],
                            **state.get("log_fields", {}),
                        }
                    },
                )


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise MalformedRequest("Content-Length is not a number")
    return int(raw)


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(
                    f"request body is over the limit of {limit} bytes",
                    hint="send fewer rows per request, or raise max_body_bytes",
                )
        return message

    return wrapped
