"""Rollout telemetry in the registry database: per-worker windows, assignments, outcomes.

Windows (``rollout_windows``): each server worker writes one row per deployment, variant,
kind and second it saw traffic in, holding a ``rollout.window.VariantWindow`` as JSON. Only
that worker writes that row (its name is in the key), so a write replaces the row whole
(an upsert) and a retried write is harmless. Readers merge the rows of every worker over a
period: that is how an analysis sees the traffic of all workers, not one worker's share.

Assignments (``rollout_assignments``) say which variant answered a request id, for the
deployments whose outcomes are measured: they are an experiment's units. Outcomes are named
numbers recorded against a request id; they are feedback facts (``feedback`` table, kind
``outcome``, row 0: ``registry/sql/feedback.py``), so an outcome given through
``POST /feedback`` and one given through the deployment's outcomes route are the same fact,
and both count in the experiment's report. ``rollout_outcomes`` is no longer written
(migration 0007 copied its rows into ``feedback``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.engine import insert_ignore, upsert
from shipyard.registry.sql.feedback import OUTCOME
from shipyard.registry.sql.tables import feedback, rollout_assignments, rollout_windows
from shipyard.rollout.window import VariantWindow

T = TypeVar("T")
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class WindowRow:
    deployment: str
    revision: int
    variant: str
    kind: str
    second: int
    window: VariantWindow


@dataclass(frozen=True)
class Assignment:
    deployment: str
    request_id: str
    revision: int
    variant: str
    at: datetime


@dataclass(frozen=True)
class OutcomeResult:
    """What recording one outcome did: ``created`` False when the same value was there."""

    deployment: str
    request_id: str
    metric: str
    value: float
    variant: str
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "request_id": self.request_id,
            "metric": self.metric,
            "value": self.value,
            "variant": self.variant,
            "created": self.created,
        }


class RolloutStore:
    """Telemetry windows, assignments and outcomes; shares the registry store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- windows --------------------------------------------------------------------------

    def write_windows(self, worker: str, rows: Sequence[WindowRow]) -> None:
        """Write (replace) this worker's rows, in one transaction."""
        if not rows:
            return

        def work(conn: Connection) -> None:
            for row in rows:
                values = {
                    "deployment": row.deployment,
                    "revision": row.revision,
                    "variant": row.variant,
                    "kind": row.kind,
                    "worker": worker,
                    "second": row.second,
                    "data": row.window.to_json(),
                }
                upsert(conn, rollout_windows, values, ["deployment", "variant", "kind", "worker", "second"])

        self._write(work, "writing rollout windows")

    def windows(
        self, deployment: str, *, since: float, until: float | None = None, revision: int | None = None
    ) -> dict[tuple[str, str], VariantWindow]:
        """Every worker's windows of ``deployment`` with ``since <= second < until``, merged
        per (variant, kind)."""
        query = sa.select(rollout_windows.c.variant, rollout_windows.c.kind, rollout_windows.c.data).where(
            rollout_windows.c.deployment == deployment, rollout_windows.c.second >= int(since)
        )
        if until is not None:
            query = query.where(rollout_windows.c.second < int(until))
        if revision is not None:
            query = query.where(rollout_windows.c.revision == revision)

        def work(conn: Connection) -> dict[tuple[str, str], VariantWindow]:
            out: dict[tuple[str, str], VariantWindow] = {}
            for variant, kind, data in conn.execute(query):
                window = out.get((variant, kind))
                if window is None:
                    out[(variant, kind)] = VariantWindow.from_json(data)
                else:
                    window.merge(VariantWindow.from_json(data))
            return out

        return self._read(work, f"reading the rollout windows of {deployment!r}")

    def workers(self, deployment: str, *, since: float) -> set[str]:
        """The workers that wrote windows of ``deployment`` since ``since`` (Unix seconds)."""
        query = (
            sa.select(rollout_windows.c.worker)
            .where(rollout_windows.c.deployment == deployment, rollout_windows.c.second >= int(since))
            .distinct()
        )
        return self._read(lambda conn: {str(w) for (w,) in conn.execute(query)}, "reading rollout workers")

    def prune(self, *, before: float) -> int:
        """Delete windows older than ``before`` (Unix seconds); the number deleted."""

        def work(conn: Connection) -> int:
            result = conn.execute(sa.delete(rollout_windows).where(rollout_windows.c.second < int(before)))
            return int(result.rowcount or 0)

        return self._write(work, "pruning rollout windows")

    # -- assignments and outcomes -----------------------------------------------------------

    def record_assignments(self, assignments: Iterable[Assignment]) -> None:
        """Remember which variant answered each request id (a repeated id keeps its first)."""
        batch = list(assignments)
        if not batch:
            return

        def work(conn: Connection) -> None:
            for item in batch:
                values = {
                    "deployment": item.deployment,
                    "request_id": item.request_id,
                    "revision": item.revision,
                    "variant": item.variant,
                    "at": item.at,
                }
                insert_ignore(conn, rollout_assignments, values, ["deployment", "request_id"])

        self._write(work, "recording assignments")

    def record_outcome(
        self, deployment: str, request_id: str, metric: str, value: float, *, recorded_by: str
    ) -> OutcomeResult:
        """Record ``metric = value`` for the request ``request_id`` of ``deployment``.

        The same value again is accepted (``created`` False); another value for the same
        request and metric is a ``Conflict``; a request id the deployment never answered
        (or not yet written: assignments are flushed each second) is ``NotFound``."""
        _check_request_id(request_id)

        def work(conn: Connection) -> OutcomeResult:
            assigned = conn.execute(
                sa.select(
                    rollout_assignments.c.variant, rollout_assignments.c.revision, rollout_assignments.c.at
                ).where(rollout_assignments.c.deployment == deployment, rollout_assignments.c.request_id == request_id)
            ).first()
            if assigned is None:
                raise NotFound(
                    f"deployment {deployment!r} has no request {request_id!r}",
                    hint="outcomes are recorded against the X-Request-Id of a request the deployment answered "
                    "(assignments are written within about a second of the answer)",
                )
            variant = str(assigned.variant)
            existing = conn.execute(
                sa.select(feedback.c.value_number).where(
                    feedback.c.request_id == request_id,
                    feedback.c.row_index == 0,
                    feedback.c.kind == OUTCOME,
                    feedback.c.name == metric,
                )
            ).first()
            if existing is not None:
                if existing.value_number is not None and float(existing.value_number) == value:
                    return OutcomeResult(deployment, request_id, metric, value, variant, created=False)
                raise Conflict(
                    f"request {request_id!r} already has {metric} = {existing.value_number:g}, not {value:g}",
                    hint="an outcome is recorded once per request and metric",
                )
            now = queries.now()
            conn.execute(
                sa.insert(feedback).values(
                    request_id=request_id,
                    row_index=0,
                    kind=OUTCOME,
                    name=metric,
                    value_number=value,
                    value_json=repr(float(value)),
                    target=deployment,
                    model="",
                    version=None,
                    deployment=deployment,
                    variant=variant,
                    revision=int(assigned.revision),
                    caller="",
                    key=None,
                    predicted_at=assigned.at,
                    recorded_by=recorded_by[:255],
                    recorded_at=now,
                )
            )
            return OutcomeResult(deployment, request_id, metric, value, variant, created=True)

        return self._write(work, "recording an outcome", retry_unique=True)

    def arm_outcomes(
        self, deployment: str, metric: str, *, since: datetime | None = None
    ) -> dict[str, tuple[int, np.ndarray]]:
        """Per variant: the requests assigned to it and the values of ``metric`` recorded
        for them (since ``since``, when given)."""
        units = sa.select(rollout_assignments.c.variant, sa.func.count()).where(
            rollout_assignments.c.deployment == deployment
        )
        values = sa.select(feedback.c.variant, feedback.c.value_number).where(
            feedback.c.deployment == deployment,
            feedback.c.kind == OUTCOME,
            feedback.c.name == metric,
            feedback.c.variant.is_not(None),
            feedback.c.value_number.is_not(None),
        )
        if since is not None:
            units = units.where(rollout_assignments.c.at >= since)
            values = values.where(feedback.c.predicted_at >= since)
        units = units.group_by(rollout_assignments.c.variant)

        def work(conn: Connection) -> dict[str, tuple[int, np.ndarray]]:
            counts = {str(v): int(n) for v, n in conn.execute(units)}
            found: dict[str, list[float]] = {}
            for variant, value in conn.execute(values.order_by(feedback.c.id)):
                found.setdefault(str(variant), []).append(float(value))
            return {v: (counts.get(v, 0), np.asarray(found.get(v, []), dtype=np.float64)) for v in {*counts, *found}}

        return self._read(work, f"reading the outcomes of {deployment!r}")

    def outcome_means(self, deployment: str, metrics: Iterable[str], *, since: datetime) -> dict[str, dict[str, float]]:
        """metric → variant → mean value over requests assigned since ``since`` (a request
        without a recorded value counts as 0 when every recorded value is 0 or 1)."""
        out: dict[str, dict[str, float]] = {}
        for metric in metrics:
            arms = self.arm_outcomes(deployment, metric, since=since)
            rates = all(set(np.unique(values).tolist()) <= {0.0, 1.0} for _, values in arms.values())
            means: dict[str, float] = {}
            for variant, (units, values) in arms.items():
                if rates and units:
                    means[variant] = float(values.sum()) / units
                elif len(values):
                    means[variant] = float(values.mean())
            out[metric] = means
        return out

    # -- inside a transaction -------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str, *, retry_unique: bool = False) -> T:
        return transactions.run(self._engine, work, write=True, retry_unique=retry_unique, what=what)


def _check_request_id(request_id: str) -> None:
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID:
        raise InvalidRequest(f"a request id is 1 to {MAX_REQUEST_ID} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in request_id):
        raise InvalidRequest("a request id has no spaces or control characters")


def merged_by_variant(windows: Mapping[tuple[str, str], VariantWindow], kind: str) -> dict[str, VariantWindow]:
    """The ``kind`` windows of a ``RolloutStore.windows`` result, by variant."""
    return {variant: window for (variant, k), window in windows.items() if k == kind}
