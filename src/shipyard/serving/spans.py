"""Trace spans of an inference, with the ``opentelemetry.trace`` API only (no SDK here).

``tracer`` stays None unless ``monitoring.tracing.configure`` found an OTLP endpoint, so
with tracing off the data plane pays one global lookup per request. When on, the phases
of a request are recorded once it has been answered, as children of the current span
(the request span the edge opened): ``validation``, ``queue`` (from the batcher's queue
to the start of the model call), ``model`` (the call itself, merged with others when
batched) and ``log`` (the observers: the prediction log, and in ``sync`` mode waiting
for it to be durable). Each carries the model, version, request id, and the deployment
and variant when there is one.
"""

from __future__ import annotations

import time
from typing import Protocol

from opentelemetry import trace

tracer: trace.Tracer | None = None
"""The tracer of this process, set while tracing is configured."""

MODEL = "shipyard.model"
VERSION = "shipyard.model.version"
REQUEST_ID = "shipyard.request_id"
DEPLOYMENT = "shipyard.deployment"
VARIANT = "shipyard.variant"
PROTOCOL = "shipyard.protocol"
ROWS = "shipyard.rows"


class _Call(Protocol):
    @property
    def request_id(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def deployment(self) -> str | None: ...
    @property
    def variant(self) -> str | None: ...


def activate(chosen: trace.Tracer | None) -> None:
    """Use ``chosen`` for the data plane's spans (None: tracing off)."""
    global tracer  # noqa: PLW0603 - one switch for the whole process, read on the hot path
    tracer = chosen


def inference(
    call: _Call,
    model: str,
    version: int,
    rows: int,
    *,
    started: float,
    validated: float,
    answered: float,
    compute_seconds: float,
) -> None:
    """Record the phases of one answered inference; times are ``time.perf_counter()``."""
    active = tracer
    if active is None:
        return
    ended = time.perf_counter()
    now_ns = time.time_ns()

    def ns(moment: float) -> int:
        return now_ns - int((ended - moment) * 1e9)

    attributes: dict[str, str | int] = {
        MODEL: model,
        VERSION: version,
        REQUEST_ID: call.request_id,
        PROTOCOL: call.protocol,
        ROWS: rows,
    }
    if call.deployment is not None:
        attributes[DEPLOYMENT] = call.deployment
    if call.variant is not None:
        attributes[VARIANT] = call.variant
    trace.get_current_span().set_attributes(attributes)
    model_started = max(validated, answered - compute_seconds)
    for name, begin, end in (
        ("validation", started, validated),
        ("queue", validated, model_started),
        ("model", model_started, answered),
        ("log", answered, ended),
    ):
        span = active.start_span(name, start_time=ns(begin), attributes=attributes)
        span.end(end_time=ns(end))
