"""Alert state, history and deliveries in the registry database (migration 0008).

Several server workers evaluate the same rules against the same figures; the database is
where they agree. ``alert_states`` holds one row per (rule, target) with a ``revision``
counter, and every transition is a compare-and-set: ``UPDATE ... WHERE revision = seen``.
Only the worker whose update changed a row records the event (``alert_events``, unique per
rule, target, episode and kind) and the deliveries it owes (``alert_deliveries``, unique
per event and channel), in the same transaction; the others see zero rows changed and do
nothing. So a firing or a resolution is notified once, whoever evaluated it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import NotFound
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.engine import insert_ignore
from shipyard.registry.sql.tables import alert_deliveries, alert_events, alert_states

T = TypeVar("T")

INACTIVE = "inactive"
PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
STATES = (INACTIVE, PENDING, FIRING, RESOLVED)
"""``resolved`` behaves as ``inactive`` (the condition does not hold) but says it fired once."""

DELIVERY_PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DEFAULT_LEASE_SECONDS = 300.0
"""How long a worker's claim on a pending delivery lasts unless renewed (each attempt does)."""


@dataclass(frozen=True)
class AlertState:
    rule: str
    target: str
    state: str
    since: datetime | None
    """When the condition began to hold (pending and firing), else None."""
    value: float | None
    episode: int
    """How many times this alert has fired."""
    revision: int
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "target": self.target,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "value": self.value,
            "episode": self.episode,
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class AlertEvent:
    id: int
    rule: str
    target: str
    episode: int
    kind: str
    """``firing`` or ``resolved``."""
    at: datetime
    payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "target": self.target,
            "episode": self.episode,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "payload": self.payload,
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: int
    channel: str
    """``log``, ``webhook:NAME`` or ``retrain:NAME``."""
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "channel": self.channel,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Transition:
    """A change of one alert's state, applied only if its row is still at ``seen_revision``."""

    rule: str
    target: str
    seen_revision: int
    state: str
    since: datetime | None
    value: float | None
    event_kind: str | None = None
    """``firing`` or ``resolved`` to record an event (and its deliveries), None for none."""
    payload: dict[str, Any] | None = None
    channels: tuple[str, ...] = ()
    worker: str | None = None
    """Who will send the deliveries (their claim); None: nobody (they are claimable at once)."""
    lease_seconds: float = DEFAULT_LEASE_SECONDS


@dataclass(frozen=True)
class Outcome:
    """What a won transition recorded: the event and its deliveries (none without an event)."""

    event: AlertEvent | None
    deliveries: tuple[Delivery, ...]


class AlertStore:
    """Alert states (compare-and-set), events and deliveries; shares the registry's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- states ---------------------------------------------------------------------------

    def states(self, rules: Sequence[str] | None = None) -> list[AlertState]:
        """Every alert state (of ``rules`` when given), by rule then target."""
        query = sa.select(alert_states).order_by(alert_states.c.rule, alert_states.c.target)
        if rules is not None:
            query = query.where(alert_states.c.rule.in_(list(rules)))
        return self._read(lambda conn: [_state(r) for r in conn.execute(query).mappings()], "reading alert states")

    def ensure(self, keys: Iterable[tuple[str, str]]) -> None:
        """Create an ``inactive`` row (revision 0) for each (rule, target) not there yet."""
        wanted = sorted(set(keys))
        if not wanted:
            return

        def work(conn: Connection) -> None:
            now = queries.now()
            for rule, target in wanted:
                values = {
                    "rule": rule,
                    "target": target,
                    "state": INACTIVE,
                    "since": None,
                    "value": None,
                    "episode": 0,
                    "revision": 0,
                    "updated_at": now,
                }
                insert_ignore(conn, alert_states, values, ["rule", "target"])

        self._write(work, "creating alert states")

    def transition(self, change: Transition, at: datetime) -> Outcome | None:
        """Apply ``change`` if the row is still at its ``seen_revision``; None when another
        worker moved it first (then nothing is recorded)."""

        def work(conn: Connection) -> Outcome | None:
            episode_delta = 1 if change.event_kind == FIRING else 0
            result = conn.execute(
                sa.update(alert_states)
                .where(
                    alert_states.c.rule == change.rule,
                    alert_states.c.target == change.target,
                    alert_states.c.revision == change.seen_revision,
                )
                .values(
                    state=change.state,
                    since=change.since,
                    value=change.value,
                    episode=alert_states.c.episode + episode_delta,
                    revision=alert_states.c.revision + 1,
                    updated_at=at,
                )
            )
            if int(result.rowcount or 0) != 1:
                return None
            if change.event_kind is None:
                return Outcome(None, ())
            episode = conn.execute(
                sa.select(alert_states.c.episode).where(
                    alert_states.c.rule == change.rule, alert_states.c.target == change.target
                )
            ).scalar_one()
            payload = {**(change.payload or {}), "episode": int(episode)}
            event_id = conn.execute(
                sa.insert(alert_events)
                .values(
                    rule=change.rule,
                    target=change.target,
                    episode=int(episode),
                    kind=change.event_kind,
                    at=at,
                    payload=orjson.dumps(payload).decode(),
                )
                .returning(alert_events.c.id)
            ).scalar_one()
            payload["event_id"] = int(event_id)
            conn.execute(
                sa.update(alert_events)
                .where(alert_events.c.id == event_id)
                .values(payload=orjson.dumps(payload).decode())
            )
            deliveries = []
            claimed_until = queries.now() + timedelta(seconds=change.lease_seconds) if change.worker else None
            for channel in change.channels:
                delivery_id = conn.execute(
                    sa.insert(alert_deliveries)
                    .values(
                        event_id=event_id,
                        channel=channel,
                        status=DELIVERY_PENDING,
                        attempts=0,
                        last_status=None,
                        last_error=None,
                        claimed_by=change.worker,
                        claimed_until=claimed_until,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(alert_deliveries.c.id)
                ).scalar_one()
                deliveries.append(
                    Delivery(int(delivery_id), int(event_id), channel, DELIVERY_PENDING, 0, None, None, at, at)
                )
            event = AlertEvent(int(event_id), change.rule, change.target, int(episode), change.event_kind, at, payload)
            return Outcome(event, tuple(deliveries))

        return self._write(work, f"moving alert {change.rule!r} on {change.target!r} to {change.state}")

    # -- history and deliveries -----------------------------------------------------------

    def events(self, *, rule: str | None = None, limit: int = 100) -> list[AlertEvent]:
        """Events, newest first."""
        query = sa.select(alert_events).order_by(alert_events.c.id.desc()).limit(limit)
        if rule is not None:
            query = query.where(alert_events.c.rule == rule)
        return self._read(lambda conn: [_event(r) for r in conn.execute(query).mappings()], "reading alert history")

    def event(self, event_id: int) -> AlertEvent:
        query = sa.select(alert_events).where(alert_events.c.id == event_id)

        def work(conn: Connection) -> AlertEvent:
            row = conn.execute(query).mappings().first()
            if row is None:
                raise NotFound(f"no alert event {event_id}")
            return _event(row)

        return self._read(work, "reading an alert event")

    def deliveries(self, *, event_id: int | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, newest first."""
        query = sa.select(alert_deliveries).order_by(alert_deliveries.c.id.desc()).limit(limit)
        if event_id is not None:
            query = query.where(alert_deliveries.c.event_id == event_id)
        if status is not None:
            query = query.where(alert_deliveries.c.status == status)
        return self._read(lambda conn: [_delivery(r) for r in conn.execute(query).mappings()], "reading deliveries")

    def record_attempt(
        self,
        delivery_id: int,
        *,
        status: str,
        attempts: int,
        last_status: int | None,
        last_error: str | None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        """Record where a delivery stands after an attempt (a pending one's claim renewed)."""

        def work(conn: Connection) -> None:
            now = queries.now()
            conn.execute(
                sa.update(alert_deliveries)
                .where(alert_deliveries.c.id == delivery_id)
                .values(
                    status=status,
                    attempts=attempts,
                    last_status=last_status,
                    last_error=None if last_error is None else last_error[:2000],
                    claimed_until=now + timedelta(seconds=lease_seconds) if status == DELIVERY_PENDING else None,
                    updated_at=now,
                )
            )

        self._write(work, "recording a delivery attempt")

    def renew(self, delivery_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend ``worker``'s claim on a pending delivery; False when it is not its own."""

        def work(conn: Connection) -> bool:
            result = conn.execute(
                sa.update(alert_deliveries)
                .where(
                    alert_deliveries.c.id == delivery_id,
                    alert_deliveries.c.status == DELIVERY_PENDING,
                    alert_deliveries.c.claimed_by == worker,
                )
                .values(claimed_until=queries.now() + timedelta(seconds=lease_seconds))
            )
            return int(result.rowcount or 0) == 1

        return self._write(work, "renewing a delivery claim")

    def claim_stale(
        self, worker: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS, limit: int = 100
    ) -> list[tuple[Delivery, dict[str, Any]]]:
        """Pending deliveries nobody holds (their worker died, or none was given), claimed for
        ``worker`` by compare-and-set; each with its event's payload."""
        now = queries.now()
        stale = sa.or_(alert_deliveries.c.claimed_until.is_(None), alert_deliveries.c.claimed_until < now)
        query = (
            sa.select(alert_deliveries, alert_events.c.payload.label("event_payload"))
            .join(alert_events, alert_events.c.id == alert_deliveries.c.event_id)
            .where(alert_deliveries.c.status == DELIVERY_PENDING, stale)
            .order_by(alert_deliveries.c.id)
            .limit(limit)
        )
        candidates = self._read(lambda conn: list(conn.execute(query).mappings()), "reading stale deliveries")
        claimed: list[tuple[Delivery, dict[str, Any]]] = []
        for row in candidates:
            seen = row["claimed_until"]
            condition = (
                alert_deliveries.c.claimed_until.is_(None) if seen is None else alert_deliveries.c.claimed_until == seen
            )

            def work(conn: Connection, row: sa.RowMapping = row, condition: Any = condition) -> bool:
                result = conn.execute(
                    sa.update(alert_deliveries)
                    .where(
                        alert_deliveries.c.id == row["id"],
                        alert_deliveries.c.status == DELIVERY_PENDING,
                        condition,
                    )
                    .values(claimed_by=worker, claimed_until=now + timedelta(seconds=lease_seconds))
                )
                return int(result.rowcount or 0) == 1

            if self._write(work, "claiming a delivery"):
                claimed.append((_delivery(row), dict(orjson.loads(row["event_payload"]))))
        return claimed

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=True, what=what)


def _state(row: sa.RowMapping) -> AlertState:
    return AlertState(
        rule=row["rule"],
        target=row["target"],
        state=row["state"],
        since=row["since"],
        value=row["value"],
        episode=int(row["episode"]),
        revision=int(row["revision"]),
        updated_at=row["updated_at"],
    )


def _event(row: sa.RowMapping) -> AlertEvent:
    payload = orjson.loads(row["payload"])
    return AlertEvent(
        int(row["id"]), row["rule"], row["target"], int(row["episode"]), row["kind"], row["at"], dict(payload)
    )


def _delivery(row: sa.RowMapping) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        event_id=int(row["event_id"]),
        channel=row["channel"],
        status=row["status"],
        attempts=int(row["attempts"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
