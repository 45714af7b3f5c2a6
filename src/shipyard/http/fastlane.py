"""A short way through for inference requests.

Starlette's router tries each route's pattern in turn and wraps every endpoint in two more
layers of exception handling; for a request that costs ~20 µs of model time that is most
of the budget. Inference paths are recognised here with one pattern and handed straight to
their endpoint; errors are rendered exactly as the exception handlers would. Everything
else (and every non-POST) goes on through the normal stack. It sits inside the edge
middleware, so request ids, limits, the caller and the access log apply unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.errors import ShipyardError
from shipyard.http import mlflow, v1, v2
from shipyard.http.errors import error_response

Endpoint = Callable[[Request], Awaitable[Response]]

_ROUTES: tuple[tuple[re.Pattern[str], Endpoint], ...] = (
    (re.compile(r"^/v2/models/(?P<name>[^/]+)/infer$"), v2.infer),
    (re.compile(r"^/v2/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/infer$"), v2.infer),
    (re.compile(r"^/v1/models/(?P<name>[^/]+):predict$"), v1.predict),
    (re.compile(r"^/models/(?P<name>[^/]+)/invocations$"), mlflow.invocations),
    (re.compile(r"^/invocations$"), mlflow.invocations),
)


class InferenceFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            for pattern, endpoint in _ROUTES:
                match = pattern.match(path)
                if match is not None:
                    scope["path_params"] = match.groupdict()
                    await _run(endpoint, scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _run(endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
    try:
        response = await endpoint(Request(scope, receive))
    except ShipyardError as exc:
        response = error_response(exc)
    await response(scope, receive, send)
