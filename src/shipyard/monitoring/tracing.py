"""OpenTelemetry traces, exported over OTLP/HTTP when ``settings.otlp_endpoint`` is set.

Each server worker configures its own ``TracerProvider`` at start-up (``configure``):
resource ``service.name=shipyard``, sampling ``ParentBased(TraceIdRatioBased(
settings.trace_sample_rate))`` (an incoming sampled ``traceparent`` is followed), a
``BatchSpanProcessor`` in front of the OTLP/HTTP exporter (spans leave on its thread,
never on the event loop). The provider is not installed globally: Shipyard's spans use
its tracer (``serving/spans.tracer``), and nothing changes for other code in the process.

A request's trace: the edge (``http/middleware``) opens the ``request`` span (SERVER kind,
the W3C ``traceparent``/``tracestate`` headers honoured as its parent) and makes it
current; the data plane adds ``validation``, ``queue``, ``model`` and ``log`` under it
(``serving/spans``). Health probes and metric scrapes are not traced. With no endpoint
nothing is configured, and the edge and the data plane each check one global per request.
"""

from __future__ import annotations

import logging
import os
from contextvars import Token
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shipyard.config import Settings
from shipyard.serving import spans

logger = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
try:
    __version__ = version("shipyard")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0"
_provider: TracerProvider | None = None
UNTRACED_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/ping", "/health", "/metrics"})
"""Probes and scrapes, every few seconds from every orchestrator: noise in a trace store."""


def configure(settings: Settings) -> bool:
    """Start exporting this process's spans if ``settings.otlp_endpoint`` is set; True if so."""
    global _provider  # noqa: PLW0603 - one provider per process
    if not settings.otlp_endpoint:
        return False
    shutdown()
    resource = Resource.create(
        {
            "service.name": "shipyard",
            "service.version": __version__,
            "service.instance.id": f"{os.uname().nodename}-{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_rate)))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, timeout=10)))
    _provider = provider
    spans.activate(provider.get_tracer("shipyard", __version__))
    logger.info("exporting traces to %s (sample rate %g)", settings.otlp_endpoint, settings.trace_sample_rate)
    return True


def shutdown() -> None:
    """Flush and stop the exporter (at server shutdown)."""
    global _provider
    spans.activate(None)
    if _provider is not None:
        provider, _provider = _provider, None
        provider.shutdown()


def enabled() -> bool:
    return spans.tracer is not None


@dataclass
class RequestSpan:
    """The span of one HTTP request, current until ``end``."""

    span: trace.Span
    token: Token[Context]

    def end(self, status: int, route: str | None) -> None:
        try:
            self.span.set_attribute("http.response.status_code", status)
            if route is not None:
                self.span.set_attribute("http.route", route)
                self.span.update_name(f"request {route}")
            if status >= 500:
                self.span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
            self.span.end()
        finally:
            otel_context.detach(self.token)


def start_request(headers: dict[bytes, bytes], method: str, path: str, request_id: str) -> RequestSpan | None:
    """Open the request span (a child of the caller's ``traceparent`` when it sent one)."""
    tracer = spans.tracer
    if tracer is None or path in UNTRACED_PATHS:
        return None
    carrier = {}
    for name in (b"traceparent", b"tracestate"):
        value = headers.get(name)
        if value is not None:
            carrier[name.decode()] = value.decode("latin-1")
    parent = _PROPAGATOR.extract(carrier) if carrier else None
    span = tracer.start_span(
        "request",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path[:200], spans.REQUEST_ID: request_id},
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    return RequestSpan(span, token)
