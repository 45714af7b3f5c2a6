"""Errors become gRPC statuses: mapped once, here, from the HTTP status each error class names.

The status details are the message HTTP puts in ``error`` (absolute paths redacted the same
way); the trailing metadata carry what the HTTP body and headers carry besides: ``shipyard-code``
(the stable error code), ``shipyard-hint``, and ``retry-after`` for a rate limit or a full queue.
"""

from __future__ import annotations

import grpc

from shipyard.errors import ShipyardError

STATUS_BY_HTTP: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    # A retired version: it exists, but may no longer answer (the hint names its successor).
    410: grpc.StatusCode.FAILED_PRECONDITION,
    # Too many rows or bytes: what gRPC itself answers for a message over its size limit.
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    421: grpc.StatusCode.PERMISSION_DENIED,
    # A guardrail's refusal, a model refused for its content: the caller's input.
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}

HTTP_BY_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 499,
}
"""The HTTP status a gRPC status stands for, for the ``route="grpc"`` request counter."""

Metadata = tuple[tuple[str, str], ...]


def grpc_status(exc: ShipyardError) -> tuple[grpc.StatusCode, str, Metadata]:
    """The status code, details and trailing metadata that report ``exc``."""
    body = exc.to_dict()
    code = STATUS_BY_HTTP.get(exc.http_status, grpc.StatusCode.INTERNAL)
    trailers: list[tuple[str, str]] = [("shipyard-code", str(body["code"]))]
    hint = body.get("hint")
    if hint:
        trailers.append(("shipyard-hint", _ascii(str(hint))))
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        trailers.append(("retry-after", str(retry_after)))
    return code, str(body["error"]), tuple(trailers)


def _ascii(text: str) -> str:
    # Metadata values must be printable ASCII (a non-ASCII one fails the whole call).
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:1000]
