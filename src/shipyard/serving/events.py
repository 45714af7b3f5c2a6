"""The one point every inference passes: a record of it is handed to observers.

Observers run on the event loop right after the model answered and must not block: the
metrics observer updates counters; the prediction log (a later issue) puts the record on
a bounded queue and writes it elsewhere. An observer that raises is logged and ignored: a
record is never worth a failed response.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
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
    batch: Batch
    outputs: Outputs


@dataclass(frozen=True)
class InferenceFailure:
    request_id: str
    model: str
    """The served model name, or ``_unknown`` when the name is not served (bounded labels)."""
    version: int | None
    protocol: str
    code: str
    duration_seconds: float


class InferenceObserver(Protocol):
    def on_inference(self, record: InferenceRecord) -> None: ...

    def on_failure(self, failure: InferenceFailure) -> None: ...


class ModelStateObserver(Protocol):
    def on_model_state(self, model: str, version: int | None, state: str) -> None: ...


def notify(observers: Sequence[InferenceObserver], item: InferenceRecord | InferenceFailure) -> None:
    for observer in observers:
        try:
            if isinstance(item, InferenceRecord):
                observer.on_inference(item)
            else:
                observer.on_failure(item)
        except Exception:
            logger.exception("inference observer %r failed; the response is unaffected", observer)
