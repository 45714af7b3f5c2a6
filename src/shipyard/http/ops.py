"""Operations routes: ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shipyard.http.responses import JSONResponse
from shipyard.http.state import app_state

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics_endpoint(request: Request) -> Response:
    state = app_state(request)
    state.authorize(request, "metrics.read", "*")
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(app_state(request).openapi)
