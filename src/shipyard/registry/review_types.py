"""Review tickets: a prediction held for a human decision (``registry/sql/reviews.py``).

The data plane opens a ticket (:class:`NewTicket`) when a request matches a review rule of
its target's controls; reviewers claim and decide it; an undecided ticket expires at its
deadline with the fallback answer. :class:`Ticket` is the stored record.

Ticket states::

    pending --claim--> claimed --decide--> decided
       |                  |
       +------deadline----+----> expired   (answer = the fallback, when there is one)

``inputs`` are the request's columns (output name → list per row) after PII minimisation;
``proposed`` the model's outputs; ``fallback`` the outputs to answer with if the ticket
expires (output → list per row, or one value for every row), or ``None`` (then an expired
ticket has no answer). ``outputs`` of a decided ticket are the proposed ones (approve) or
the reviewer's (override).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

TicketStatus = Literal["pending", "claimed", "decided", "expired"]
Decision = Literal["approve", "override", "expired"]
TICKET_STATUSES: tuple[TicketStatus, ...] = ("pending", "claimed", "decided", "expired")
OPEN_STATUSES: tuple[TicketStatus, ...] = ("pending", "claimed")
ACTIONS = ("approve", "override")


@dataclass(frozen=True)
class NewTicket:
    """What the data plane knows when it holds a prediction for review."""

    target: str
    """The controls' target: the deployment's name, or the model's when served directly."""
    model: str
    version: int
    deployment: str | None
    variant: str | None
    request_id: str
    caller: str
    """Who made the request (``key:<id>``, ``user:<name>`` or ``anonymous``)."""
    key: str | None
    """The caller's prediction key (``X-Prediction-Key``), if any."""
    reasons: list[str]
    inputs: Mapping[str, Any]
    proposed: Mapping[str, Any]
    fallback: Mapping[str, Any] | None
    timeout_seconds: float
    webhook: str | None = None


@dataclass(frozen=True)
class Ticket:
    """A stored review ticket."""

    id: str
    target: str
    model: str
    version: int
    deployment: str | None
    variant: str | None
    request_id: str
    caller: str
    key: str | None
    reasons: tuple[str, ...]
    inputs: Mapping[str, Any]
    proposed: Mapping[str, Any]
    fallback: Mapping[str, Any] | None
    status: TicketStatus
    created_at: datetime
    deadline_at: datetime
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    decided_by: str | None = None
    decision: Decision | None = None
    outputs: Mapping[str, Any] | None = None
    comment: str | None = None
    decided_at: datetime | None = None
    webhook: str | None = None
    notified_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def rows(self) -> int:
        """How many rows the held request had (the length of its proposed outputs)."""
        for value in self.proposed.values():
            if isinstance(value, list):
                return len(value)
        return 1

    def poll_body(self) -> dict[str, Any]:
        """What the caller sees when it polls ``GET /reviews/{ticket}``."""
        body: dict[str, Any] = {
            "ticket": self.id,
            "status": self.status,
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "deadline": self.deadline_at.isoformat(),
        }
        if self.decision is not None:
            body["decision"] = self.decision
            if self.outputs is not None:
                body["outputs"] = dict(self.outputs)
            if self.decided_by is not None:
                body["decided_by"] = self.decided_by
            if self.decided_at is not None:
                body["decided_at"] = self.decided_at.isoformat()
        return body

    def to_dict(self) -> dict[str, Any]:
        """Everything a reviewer sees (``GET /reviews``, ``shipyard review show``)."""
        body = self.poll_body()
        body.update(
            {
                "target": self.target,
                "deployment": self.deployment,
                "variant": self.variant,
                "caller": self.caller,
                "reasons": list(self.reasons),
                "inputs": dict(self.inputs),
                "proposed": dict(self.proposed),
                "fallback": None if self.fallback is None else dict(self.fallback),
                "claimed_by": self.claimed_by,
                "claimed_at": None if self.claimed_at is None else self.claimed_at.isoformat(),
                "comment": self.comment,
                "webhook": self.webhook is not None,
            }
        )
        return body
