"""The ASGI application: every protocol's routes on one data plane, built in one place.

The routes come from the route table (``http/routes``). Middleware, outermost first:
Starlette's server-error handler → the edge (request id, host and cross-site checks, caller,
scope, body limit, media type, rate limit, security headers, access log, metrics) → the
inference fast lane → Starlette's exception handlers → the router.
"""

from __future__ import annotations

import gc
import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from shipyard.bootstrap import Services, build_serving
from shipyard.config import Settings
from shipyard.errors import ConfigError, ShipyardError
from shipyard.grpcapi.gate import Gate
from shipyard.grpcapi.server import GrpcFront
from shipyard.http.errors import http_error, shipyard_error, unhandled_error
from shipyard.http.fastlane import InferenceFastLane
from shipyard.http.middleware import EdgeMiddleware, decision_seconds
from shipyard.http.openapi import openapi_document
from shipyard.http.routes import TABLE
from shipyard.http.state import AppState
from shipyard.monitoring import tracing
from shipyard.registry.refs import ModelRef
from shipyard.serving.access import AccessPolicy
from shipyard.serving.ratelimit import NoLimits

logger = logging.getLogger(__name__)


def anonymous_routes(settings: Settings) -> list[str]:
    """What anonymous callers may reach besides health, per ``settings``."""
    found = []
    if settings.open_inference.strip():
        found.append(f"open_inference={settings.open_inference.strip()!r}")
    if settings.open_metrics:
        found.append("open_metrics")
    return found


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, *, warn: bool = True) -> None:
    """Refuse (``ConfigError``) to listen on a non-loopback address while some route is
    anonymous, unless ``insecure_open``; then warn (``warn``), at every start."""
    opened = anonymous_routes(settings)
    if not opened or is_loopback(settings.host):
        return
    if not settings.insecure_open:
        raise ConfigError(
            f"refusing to listen on {settings.host} with anonymous routes ({', '.join(opened)})",
            hint="bind 127.0.0.1, close them, or pass --insecure-open if the network is trusted",
        )
    if warn:
        logger.warning(
            "INSECURE: listening on %s with anonymous routes (%s): anyone who reaches it may use them",
            settings.host,
            ", ".join(opened),
        )


def create_app(services: Services, refs: Sequence[ModelRef], *, access: AccessPolicy | None = None) -> Starlette:
    """An app serving ``refs`` from ``services``; models load in the lifespan start-up."""
    settings = services.settings
    check_bind(settings)
    # The edge remembers decisions for decision_seconds; with the key checker's cache they
    # stay within key_cache_seconds (a revocation takes effect within it).
    serving = build_serving(services, key_cache_seconds=settings.key_cache_seconds - decision_seconds(settings))
    manager, dataplane, metrics, limiter = serving.manager, serving.dataplane, serving.metrics, serving.limiter
    state = AppState(
        services=services, manager=manager, dataplane=dataplane, metrics=metrics, openapi=openapi_document()
    )

    gate = Gate(
        settings=settings,
        access=access or serving.access,
        limiter=None if isinstance(limiter, NoLimits) else limiter,
        audit=services.audit,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tracing.configure(settings)  # per worker process: its own exporter thread
        # Bound before the models load (a taken port fails at once), answering once they have.
        grpc_front = GrpcFront.bind(state, gate, settings) if settings.grpc_port else None
        try:
            await serving.start(refs)
        except BaseException:
            if grpc_front is not None:
                await grpc_front.stop(0)
            raise
        # What start-up made (the models, the libraries, their caches) lives as long as the
        # server: out of the cycle collector's way, a full collection walks only what requests
        # made since (walking ~200k start-up objects took ~50 ms, paid by every request in
        # flight). Objects frozen here are still freed when no longer referenced.
        gc.freeze()
        try:
            if grpc_front is not None:
                await grpc_front.start()
            yield
        finally:
            if grpc_front is not None:
                await grpc_front.stop(settings.graceful_timeout_seconds)
            await serving.close()
            tracing.shutdown()

    def default_model() -> str | None:
        names = manager.names()
        return names[0] if names else None

    app = Starlette(
        routes=TABLE.starlette_routes(),
        middleware=[
            Middleware(
                EdgeMiddleware,
                table=TABLE,
                settings=settings,
                access=access or serving.access,
                metrics=metrics,
                default_model=default_model,
                limiter=None if isinstance(limiter, NoLimits) else limiter,
                audit=services.audit,
            ),
            Middleware(InferenceFastLane),
        ],
        exception_handlers={ShipyardError: shipyard_error, HTTPException: http_error, Exception: unhandled_error},
        lifespan=lifespan,
    )
    app.state.shipyard = state
    return app
