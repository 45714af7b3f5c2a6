"""A short way through for inference requests.

Starlette's router tries each route's pattern in turn and wraps every endpoint in two more
layers of exception handling; for a request that costs ~20 µs of model time that is most
of the budget. The edge middleware has already matched the request in the route table
(``http/routes``) and checked its caller; the routes marked ``fast`` (the inference POSTs)
are handed straight to their endpoint here, errors rendered exactly as the exception
handlers would. Everything else goes on through the normal stack.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.errors import ShipyardError
from shipyard.http.errors import error_response
from shipyard.http.route_spec import RouteSpec


class InferenceFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            spec: RouteSpec | None = scope.get("state", {}).get("route")
            if spec is not None and spec.fast:
                try:
                    response = await spec.endpoint(Request(scope, receive))
                except ShipyardError as exc:
                    response = error_response(exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
