"""Failover: when a model errs or runs out of time, answer with the target's fallback.

A target's controls name the fallback (``governance/controls.Fallback``): a fallback model
(``NAME/V`` or ``NAME@alias``, loaded by the model manager beside the served ones and
followed like them, but not served under its name) and/or a fixed answer (output name →
the value every row gets; a list is one row's vector, e.g. ``predict_proba: [0.5, 0.5]``).
The model is tried first, then the answer; when neither can answer the original error
stands. What answered is marked: ``model:NAME/V`` or ``answer``.

The fallback model gets the request's deadline again (the primary's was spent): a failed-over
request can take up to twice its deadline. A fixed answer is immediate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import ModelError, ShipyardError, Unavailable
from shipyard.governance.controls import Fallback
from shipyard.registry.refs import ModelRef, parse_ref
from shipyard.schema.batch import Outputs, RawInputs
from shipyard.schema.validate import validate_inputs
from shipyard.serving.manager import ModelManager, ServedVersion

logger = logging.getLogger(__name__)

MODEL_ERROR = "model_error"
TIMEOUT = "timeout"
RETRY_SECONDS = 30.0
"""How long a fallback model that failed to load waits before the next attempt."""


def failover_cause(exc: ShipyardError) -> str | None:
    """Why ``exc`` may fail over: ``model_error``, ``timeout``, or None (it may not: bad
    input, overload, retirement... are the caller's or the server's to see)."""
    if isinstance(exc, ModelError):
        return MODEL_ERROR
    if type(exc) is Unavailable and isinstance(exc.__cause__, TimeoutError):
        return TIMEOUT
    return None


def fixed_outputs(answer: Mapping[str, Any], rows: int) -> Outputs:
    """The configured answer as outputs of ``rows`` rows (each row the same value)."""
    outputs: Outputs = {}
    for name, value in answer.items():
        one = np.asarray([value])
        if one.dtype.kind in "US":
            one = one.astype(object)
        outputs[str(name)] = np.repeat(one, rows, axis=0)
    return outputs


def per_row(answer: Mapping[str, Any], rows: int) -> dict[str, list[Any]]:
    """The configured answer as JSON-able lists, one entry per row."""
    return {str(name): [value] * rows for name, value in answer.items()}


@dataclass(frozen=True)
class FailoverAnswer:
    outputs: Outputs
    mark: str
    """``model:NAME/V`` or ``answer``."""
    compute_seconds: float = 0.0


class Failover:
    """Answers with fallbacks; keeps the fallback models loaded (``prepare``)."""

    def __init__(self, manager: ModelManager, *, max_rows: int) -> None:
        self._manager = manager
        self._max_rows = max_rows
        self._refs: dict[str, ModelRef] = {}
        self._failed: dict[str, float] = {}

    async def prepare(self, fallbacks: Mapping[str, Fallback]) -> None:
        """Make sure every fallback model named in ``fallbacks`` (target → its fallback) is
        loaded; one that cannot load is logged and retried on the next call."""
        wanted: dict[str, ModelRef] = {}
        for target, fallback in fallbacks.items():
            if fallback.model is None:
                continue
            try:
                wanted[fallback.model] = parse_ref(fallback.model)
            except ShipyardError as exc:
                logger.warning("the fallback model of %s is not a model reference: %s", target, exc)
        now = time.monotonic()
        for text, ref in wanted.items():
            if now - self._failed.get(text, -RETRY_SECONDS) < RETRY_SECONDS:
                continue
            try:
                await self._manager.side(ref)
                self._failed.pop(text, None)
            except ShipyardError as exc:
                self._failed[text] = now
                logger.error("fallback model %s cannot load (retrying in %gs): %s", text, RETRY_SECONDS, exc)
        self._refs = wanted

    def model(self, text: str) -> ServedVersion | None:
        ref = self._refs.get(text)
        return self._manager.side_version(ref) if ref is not None else None

    async def answer(self, fallback: Fallback, inputs: RawInputs, rows: int, seconds: float) -> FailoverAnswer | None:
        """The fallback's answer to ``inputs`` (``rows`` rows), or None when it has none."""
        if fallback.model is not None:
            served = self.model(fallback.model)
            if served is None:
                logger.warning("fallback model %s is not loaded; trying the fallback answer", fallback.model)
            else:
                try:
                    batch = validate_inputs(served.signature, inputs, max_rows=self._max_rows)
                    async with asyncio.timeout(seconds):
                        answer = await served.batcher.submit(batch)
                    return FailoverAnswer(answer.outputs, f"model:{served.record.ref}", answer.compute_seconds)
                except (ShipyardError, TimeoutError) as exc:
                    logger.warning("fallback model %s failed too: %s", served.record.ref, exc or "timeout")
        if fallback.answer is not None:
            return FailoverAnswer(fixed_outputs(fallback.answer, rows), "answer")
        return None
