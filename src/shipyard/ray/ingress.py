"""The ingress deployment: ``shipyard serve``'s own Starlette app, inside a Ray Serve replica.

Ray Serve's HTTP proxy hands each request to an ingress replica, which runs the app that
``shipyard serve`` runs (``http/app.create_app``): the edge (request ids, keys and scopes,
limits, rate limits), the three protocols' adapters, the data plane with its validation,
controls, deployments' splits, batching and prediction log. Only the model call leaves the
process, to the model's deployment (``remote``). The app is built in the replica
(``__serve_build_asgi_app__``, after the constructor), so the registry connection and the
serving graph are made where they are used, never pickled; its lifespan (loading and
warming the served versions) runs before the replica reports healthy.

Not served through Ray: gRPC (``grpc_port`` is 0 in the ingress; Ray Serve's own gRPC proxy
speaks its own service definitions, not OIP V2).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

from ray import serve

from shipyard.bootstrap import Services, open_services
from shipyard.config import Settings
from shipyard.http.app import create_app
from shipyard.logs import configure_logging
from shipyard.ray.remote import RemoteRegistry
from shipyard.registry.refs import parse_ref

logger = logging.getLogger(__name__)

REPLICA_ATTRIBUTE = "ray.serve.replica"
"""The OpenTelemetry resource attribute naming the ingress replica that made a span."""


class Ingress:
    """One ingress replica (constructed by Ray Serve; see ``app.build``)."""

    def __init__(self, refs: Sequence[str], settings: dict[str, Any], handles: dict[str, Any]) -> None:
        self._refs = [parse_ref(ref) for ref in refs]
        self._overrides = {**settings, "grpc_port": 0}
        self._handles = handles
        self._services: Services | None = None

    def __serve_build_asgi_app__(self) -> Any:
        settings = Settings.load(overrides=self._overrides)
        configure_logging(settings.log_level)
        _name_replica()
        services = open_services(settings)
        remote = RemoteRegistry(services.registry, self._handles, timeout_seconds=settings.request_timeout_seconds)
        self._services = dataclasses.replace(services, registry=remote)
        return create_app(self._services, self._refs)

    def __del__(self) -> None:
        if self._services is not None:
            self._services.close()


def _name_replica() -> None:
    """Spans this process exports carry the replica (``tracing.configure`` reads the
    standard ``OTEL_RESOURCE_ATTRIBUTES``)."""
    try:
        replica = serve.get_replica_context().replica_tag
    except Exception:  # not in a replica (a test building the app by hand)
        return
    extra = f"{REPLICA_ATTRIBUTE}={replica}"
    current = os.environ.get("OTEL_RESOURCE_ATTRIBUTES")
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = f"{current},{extra}" if current else extra
