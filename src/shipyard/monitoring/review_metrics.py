"""Prometheus metrics of the human review queue, on the serving metrics' registry:

- ``shipyard_review_wait_seconds{target, decision}``: a histogram of the time from a
  ticket's opening to its decision (or its expiry: ``decision="expired"``), observed once
  per ticket by the server's review worker that takes it (``registry/sql/reviews.take_finished``);
- ``shipyard_review_tickets{status}``: tickets in each status, counted in the registry at
  each worker tick (``mostrecent`` across worker processes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge, Histogram

from shipyard.registry.review_types import Ticket

WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0)
MODE: Literal["mostrecent"] = "mostrecent"


class ReviewMetrics:
    """``ReviewMetrics(registry)``; ``observe(ticket)`` once per finished ticket, ``counts(...)``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.wait = Histogram(
            "shipyard_review_wait_seconds",
            "Time a held prediction waited for its review decision (or its expiry)",
            ("target", "decision"),
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.tickets = Gauge(
            "shipyard_review_tickets",
            "Review tickets by status",
            ("status",),
            registry=registry,
            multiprocess_mode=MODE,
        )

    def observe(self, ticket: Ticket) -> None:
        if ticket.decided_at is None or ticket.decision is None:
            return
        waited = max(0.0, (ticket.decided_at - ticket.created_at).total_seconds())
        self.wait.labels(ticket.target, ticket.decision).observe(waited)

    def counts(self, by_status: Mapping[str, int]) -> None:
        for status, count in by_status.items():
            self.tickets.labels(status).set(count)
