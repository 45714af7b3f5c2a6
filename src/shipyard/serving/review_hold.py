"""Holding a prediction for human review.

A target's review rules (``governance/controls.Review``) are evaluated on every answer:

- ``low_confidence``: some row's top ``predict_proba`` is below ``below``;
- ``classes``: some row's ``predict`` label is in the critical set;
- ``guardrail``: a guardrail flagged the request (inputs or outputs);
- ``sample``: a random audit sample of ``rate`` of the requests.

An input guardrail in ``review`` mode holds a flagged request too (reason ``guardrail``).
A held prediction becomes a ticket in the review queue (``store.reviews.open``, on a
thread: it writes the registry), with the inputs minimised by the PII marks
(``governance/pii.minimise_columns``); the caller gets ``202 pending_review`` or, with
``respond: fallback``, the fallback answer at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shipyard.errors import ShipyardError, Unavailable
from shipyard.governance.controls import (
    AuditSample,
    Controls,
    CriticalClasses,
    GuardrailFlag,
    LowConfidence,
    PiiMark,
    Review,
)
from shipyard.governance.pii import minimise_columns
from shipyard.registry.review_types import NewTicket, Ticket
from shipyard.schema.batch import Batch, Outputs

logger = logging.getLogger(__name__)

DEFAULT_REVIEW = Review(rules=(GuardrailFlag(kind="guardrail"),))
"""Timeout and response when only an input guardrail in ``review`` mode holds a request."""

OpenTicket = Callable[[NewTicket], Ticket]
PiiMarks = Callable[[str, "str | None"], Mapping[str, PiiMark]]


@dataclass(frozen=True)
class Held:
    """A prediction waiting for a reviewer."""

    ticket: str
    deadline: datetime
    reasons: tuple[str, ...]
    request_id: str
    model: str
    version: int
    pending: bool = True
    """The caller waits for the decision (202); False: it got the fallback answer."""

    def body(self) -> dict[str, Any]:
        """The documented ``202 pending_review`` body, the same in every protocol."""
        return {
            "status": "pending_review",
            "ticket": self.ticket,
            "poll": f"/reviews/{self.ticket}",
            "model": self.model,
            "version": self.version,
            "request_id": self.request_id,
            "deadline": self.deadline.isoformat(),
            "reasons": list(self.reasons),
        }


def _labels(values: np.ndarray) -> set[str]:
    return {str(v) for v in set(values.tolist())}


def review_reasons(review: Review | None, outputs: Outputs, flagged: bool, guard_review: bool) -> list[str]:
    """Why this answer must be reviewed (empty: it need not)."""
    reasons: list[str] = []
    if guard_review and flagged:
        reasons.append("guardrail")
    if review is None:
        return reasons
    for rule in review.rules:
        if isinstance(rule, LowConfidence):
            proba = outputs.get("predict_proba")
            if proba is not None and proba.ndim == 2 and proba.shape[1] and (proba.max(axis=1) < rule.below).any():
                reasons.append("low_confidence")
        elif isinstance(rule, CriticalClasses):
            predicted = outputs.get("predict")
            if predicted is not None and _labels(predicted.reshape(-1)) & {str(c) for c in rule.classes}:
                reasons.append("classes")
        elif isinstance(rule, GuardrailFlag):
            if flagged and "guardrail" not in reasons:
                reasons.append("guardrail")
        elif isinstance(rule, AuditSample) and random.random() < rule.rate:
            reasons.append("sample")
    return reasons


def jsonable(array: np.ndarray) -> list[Any]:
    values: list[Any] = array.tolist()
    return values


def batch_columns(batch: Batch) -> dict[str, list[Any]]:
    """The request's inputs, column (or tensor) → values per row."""
    if batch.tensors:
        return {name: jsonable(array) for name, array in batch.tensors.items()}
    return {name: jsonable(values) for name, values in batch.columns().items()}


class ReviewHold:
    """Opens review tickets for held predictions."""

    def __init__(
        self,
        open_ticket: OpenTicket | None,
        *,
        pii_marks: PiiMarks | None = None,
        pii_key: Callable[[], bytes | None] | None = None,
    ) -> None:
        self._open = open_ticket
        self._marks = pii_marks
        self._key = pii_key

    @property
    def available(self) -> bool:
        return self._open is not None

    def _minimised(self, batch: Batch, model: str, deployment: str | None) -> dict[str, Any]:
        columns = batch_columns(batch)
        marks = self._marks(model, deployment) if self._marks is not None else {}
        if not marks:
            return columns
        key = self._key() if self._key is not None else None
        return minimise_columns(columns, marks, key)

    async def hold(
        self,
        *,
        controls: Controls,
        review: Review,
        target: str,
        model: str,
        version: int,
        deployment: str | None,
        variant: str | None,
        request_id: str,
        caller: str,
        key: str | None,
        reasons: list[str],
        batch: Batch,
        outputs: Outputs,
    ) -> Held:
        """Open the ticket (on a thread); ``Unavailable`` when the queue cannot take it."""
        if self._open is None:
            raise Unavailable("this server has no review queue", hint="retry later")
        fallback = None
        if controls.fallback is not None and controls.fallback.answer is not None:
            fallback = {str(n): [v] * batch.n_rows for n, v in controls.fallback.answer.items()}
        new = NewTicket(
            target=target,
            model=model,
            version=version,
            deployment=deployment,
            variant=variant,
            request_id=request_id,
            caller=caller,
            key=key,
            reasons=list(reasons),
            inputs=self._minimised(batch, model, deployment),
            proposed={name: jsonable(array) for name, array in outputs.items()},
            fallback=fallback,
            timeout_seconds=review.timeout_seconds,
            webhook=review.webhook,
        )
        try:
            ticket = await asyncio.to_thread(self._open, new)
        except ShipyardError as exc:
            logger.error("a prediction of %s/%d could not be held for review: %s", model, version, exc.code)
            raise Unavailable(
                "the prediction needs a review but the review queue is unavailable", hint="retry later"
            ) from exc
        return Held(ticket.id, ticket.deadline_at, tuple(reasons), request_id, model, version)
