"""The ASGI application: every protocol's routes on one data plane, built in one place.

Middleware, outermost first: Starlette's server-error handler → the edge (request id, body
limit, caller, access log, metrics) → Starlette's exception handlers → the routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.bootstrap import Services
from shipyard.errors import ShipyardError
from shipyard.http import management, mlflow, v1, v2
from shipyard.http.errors import http_error, shipyard_error, unhandled_error
from shipyard.http.fastlane import InferenceFastLane
from shipyard.http.middleware import EdgeMiddleware
from shipyard.http.openapi import openapi_document
from shipyard.http.responses import JSONResponse
from shipyard.http.state import AppState, app_state
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.registry.refs import ModelRef
from shipyard.serving.access import AccessPolicy, OpenAccess
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.manager import ModelManager

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics_endpoint(request: Request) -> Response:
    state = app_state(request)
    state.authorize(request, "metrics.read", "*")
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


async def openapi_endpoint(request: Request) -> Response:
    return JSONResponse(openapi_document())


def create_app(services: Services, refs: Sequence[ModelRef], *, access: AccessPolicy | None = None) -> Starlette:
    """An app serving ``refs`` from ``services``; models load in the lifespan start-up."""
    settings = services.settings
    metrics = ServingMetrics()
    manager = ModelManager(
        services.registry, poll_seconds=settings.alias_poll_seconds, observers=[metrics], settings=settings
    )
    dataplane = DataPlane(
        manager,
        max_rows=settings.max_rows,
        timeout_seconds=settings.request_timeout_seconds,
        observers=[metrics],
    )
    policy = access or OpenAccess()
    state = AppState(services=services, manager=manager, dataplane=dataplane, metrics=metrics, access=policy)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await manager.start(refs)
        try:
            yield
        finally:
            dataplane.draining = True
            await manager.close()
            dataplane.close()

    def body_limit(path: str) -> int:
        if path.startswith("/api/models/") and path.endswith("/versions"):
            return settings.max_upload_bytes
        return settings.max_body_bytes

    app = Starlette(
        routes=[
            *v2.routes,
            *v1.routes,
            *mlflow.routes,
            *management.routes,
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                EdgeMiddleware,
                max_body_bytes=body_limit,
                access=policy,
                metrics=metrics,
                access_log=settings.access_log,
            ),
            Middleware(InferenceFastLane),
        ],
        exception_handlers={ShipyardError: shipyard_error, HTTPException: http_error, Exception: unhandled_error},
        lifespan=lifespan,
    )
    app.state.shipyard = state
    return app
