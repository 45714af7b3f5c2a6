"""The ASGI application: every protocol's routes on one data plane, built in one place.

The routes come from the route table (``http/routes``). Middleware, outermost first:
Starlette's server-error handler → the edge (request id, host and cross-site checks, caller,
scope, body limit, media type, rate limit, security headers, access log, metrics) → the
inference fast lane → Starlette's exception handlers → the router.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from shipyard.bootstrap import Services
from shipyard.config import Settings
from shipyard.errors import ConfigError, ShipyardError
from shipyard.http.errors import http_error, shipyard_error, unhandled_error
from shipyard.http.fastlane import InferenceFastLane
from shipyard.http.middleware import EdgeMiddleware, decision_seconds
from shipyard.http.openapi import openapi_document
from shipyard.http.routes import TABLE
from shipyard.http.state import AppState
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.registry.refs import ModelRef
from shipyard.serving.access import AccessPolicy, KeyAccess
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.manager import ModelManager
from shipyard.serving.ratelimit import NoLimits, limiter_from_settings

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
    state = AppState(
        services=services, manager=manager, dataplane=dataplane, metrics=metrics, openapi=openapi_document()
    )
    limiter = limiter_from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await manager.start(refs)
        try:
            yield
        finally:
            dataplane.draining = True
            await manager.close()
            dataplane.close()
            await limiter.close()

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
                # The edge remembers decisions for decision_seconds; together they stay
                # within key_cache_seconds (a revocation takes effect within it).
                access=access
                or KeyAccess(services.keys, cache_seconds=settings.key_cache_seconds - decision_seconds(settings)),
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
