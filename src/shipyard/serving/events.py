"""The one point every inference passes: a record of it is handed to observers.

Observers run on the event loop right after the model answered and must not block: the
metrics observer updates counters; the prediction log (``monitoring/predlog``) puts the
record on a bounded queue and writes it on a thread of its own. An observer that raises is
logged and ignored: a record is never worth a failed response. The one exception is a
durability wait an observer asks for (the prediction log's ``sync`` mode): the data plane
awaits it, and a record that cannot be made durable fails its request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shipyard.schema.batch import Batch, Outputs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceRecord:
    request_id: str
    model: str
    version: int
    protocol: str
    caller: str
    rows: int
    started_at: float
    """Unix time the request reached the data plane."""
    duration_seconds: float
    compute_seconds: float
    """Time inside the model call that produced this request's rows (shared when batched)."""
    batch: Batch
    outputs: Outputs
    queue_seconds: float = 0.0
    """Time between validation and the start of that model call."""
    deployment: str | None = None
    """The deployment called, when the name was one (``model`` is then its variant's model)."""
    variant: str | None = None
    """The deployment's variant that answered."""
    revision: int | None = None
    """The deployment's revision that chose the variant."""
    key: str | None = None
    """The caller's own correlation key (header ``X-Prediction-Key``), if given."""
    flags: tuple[str, ...] = ()
    """Guardrail flags raised on this request (``input_range:age``, ``unseen_category:city``,
    ``ood``, ``output_nonfinite``, ...), in the order found."""
    fallback: str | None = None
    """When the answer is not the model's own: ``model:NAME/V`` (a fallback model answered),
    ``answer`` (the configured fixed answer), with the cause after a colon in ``flags``."""
    ticket: str | None = None
    """The review ticket when the prediction was held for human review."""


@dataclass(frozen=True)
class InferenceFailure:
    request_id: str
    model: str
    """The served model name, or ``_unknown`` when the name is not served (bounded labels)."""
    version: int | None
    protocol: str
    code: str
    duration_seconds: float
    status: int = 500
    """The HTTP status the failure maps to (4xx: the caller's fault, 5xx: the server's)."""
    deployment: str | None = None
    variant: str | None = None
    revision: int | None = None
    caller: str = "anonymous"
    started_at: float = 0.0
    """Unix time the request reached the data plane (0 when unknown)."""
    key: str | None = None
    """The caller's own correlation key (header ``X-Prediction-Key``), if given."""


@dataclass(frozen=True)
class BatchRecord:
    """One call of a model version's dispatcher: one ``predict`` over ``requests`` requests
    (one when not batched), plus the calls one at a time if the merged call failed."""

    model: str
    version: int
    rows: int
    requests: int
    queue_seconds: float
    """How long the oldest request of the batch waited before the call started."""
    compute_seconds: float
    """Time inside the model, including any one-at-a-time retries."""
    failed: int = 0
    """Requests of the batch whose rows made the model raise."""
    isolated: bool = False
    """The merged call failed and its requests were retried one at a time."""


@dataclass(frozen=True)
class ShadowRecord:
    """One copy of a deployment request computed off the request path (``serving/shadows``)."""

    deployment: str
    variant: str
    """The shadow, or for a mirror the canary whose answer was checked."""
    kind: str
    """``shadow`` or ``mirror``."""
    result: str
    """``ok``, ``error``, ``timeout`` or ``dropped`` (the queue was full)."""
    seconds: float


@dataclass(frozen=True)
class RolloutRecord:
    """A progressive-delivery decision: a step, a promotion or a rollback."""

    deployment: str
    action: str
    """``step``, ``promote`` or ``rollback``."""
    reason: str


class ShadowObserver(Protocol):
    def on_shadow(self, record: ShadowRecord) -> None: ...


class RolloutObserver(Protocol):
    def on_rollout(self, record: RolloutRecord) -> None: ...


class InferenceObserver(Protocol):
    def on_inference(self, record: InferenceRecord) -> Awaitable[None] | None:
        """Take note of a success. An observer that must hold the response until it is
        done (the prediction log in ``sync`` mode: until the record is on disk) returns an
        awaitable; the data plane awaits it within the request's deadline and fails the
        request if it raises. Others return None.

        Such an observer says so with a true ``waits_for_durability`` attribute: it is told
        first, and the other observers only after the wait, of the record, or of the
        failure if the wait failed (so metrics count the request as what it became)."""

    def on_failure(self, failure: InferenceFailure) -> None: ...


class ModelStateObserver(Protocol):
    def on_model_state(self, model: str, version: int | None, state: str) -> None: ...


class BatchObserver(Protocol):
    """Optional: a ``ModelStateObserver`` of the model manager that also has ``on_batch``
    is told about every dispatched batch (the metrics use it for batch sizes)."""

    def on_batch(self, record: BatchRecord) -> None: ...


def notify(observers: Sequence[InferenceObserver], item: InferenceRecord | InferenceFailure) -> list[Awaitable[None]]:
    """Hand ``item`` to every observer; returns what they asked the response to wait for
    (see ``InferenceObserver.on_inference``), usually nothing."""
    pending: list[Awaitable[None]] = []
    for observer in observers:
        try:
            if isinstance(item, InferenceRecord):
                waiting = observer.on_inference(item)
                if waiting is not None:
                    pending.append(waiting)
            else:
                observer.on_failure(item)
        except Exception:
            logger.exception("inference observer %r failed; the response is unaffected", observer)
    return pending


def notify_batch(observers: Sequence[object], record: BatchRecord) -> None:
    """Hand ``record`` to the observers that take batch records; others are skipped."""
    for observer in observers:
        on_batch = getattr(observer, "on_batch", None)
        if on_batch is None:
            continue
        try:
            on_batch(record)
        except Exception:
            logger.exception("batch observer %r failed; serving is unaffected", observer)


def notify_shadow(observers: Sequence[ShadowObserver], record: ShadowRecord) -> None:
    for observer in observers:
        try:
            observer.on_shadow(record)
        except Exception:
            logger.exception("shadow observer %r failed; serving is unaffected", observer)
