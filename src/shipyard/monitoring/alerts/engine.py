"""The alert engine: rules against figures, state in the registry, notifications once.

``AlertEngine.evaluate(figures, now)`` takes the current figures as a mapping
``{(target, figure): value}`` (or ``{(target, figure, window_seconds): value}`` when one
figure is computed over several windows; the 3-key entry matching a rule's window wins)
and moves each (rule, target) alert:

    inactive/resolved --holds--> pending --holds for `for`--> firing --fails--> resolved
                       (`for: 0` fires at once)      pending --fails--> inactive

A target whose figure is missing (or NaN) keeps its state: no data is not a recovery.
Every move is a compare-and-set on the alert's row (``registry/sql/alerts``), so when
several workers evaluate the same figures, one of them records each firing and each
resolution and owes its notifications; the others change nothing. The evaluation does
database I/O: call it from a thread, never on the event loop. Deliveries go to the
``Deliverer``'s thread; the log channel is written here, at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.config import Settings
from shipyard.errors import ShipyardError
from shipyard.monitoring.alerts.delivery import Deliverer, log_event
from shipyard.monitoring.alerts.rules import LOG, Rule, RuleFile, load_rules
from shipyard.registry.sql.alerts import (
    DELIVERED,
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    AlertEvent,
    AlertState,
    AlertStore,
    Outcome,
    Transition,
)

logger = logging.getLogger("shipyard.alerts")

FigureKey = tuple[str, str] | tuple[str, str, float]
Figures = Mapping[FigureKey, float | None]


def rules_path(settings: Settings) -> Path:
    """``settings.alert_rules_file``, else ``$home/alerts.yaml``."""
    return settings.alert_rules_file or settings.home / "alerts.yaml"


def rules_from_settings(settings: Settings, *, check_urls: bool = True) -> RuleFile:
    """The configured rule file; no rules when the default file does not exist."""
    path = rules_path(settings)
    if settings.alert_rules_file is None and not path.exists():
        return RuleFile()
    return load_rules(path, allow_private=settings.webhook_allow_private, check_urls=check_urls)


class AlertEngine:
    """Evaluates ``rules`` and records their alerts in ``store``; ``deliverer`` sends."""

    def __init__(self, store: AlertStore, rules: RuleFile, *, deliverer: Deliverer | None = None) -> None:
        self.store = store
        self.rules = rules
        self.deliverer = deliverer
        self._ensured: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, store: AlertStore, *, deliver: bool = True) -> AlertEngine:
        """The engine of a server process: its rule file, and a ``Deliverer`` thread unless
        ``deliver`` is False (``close`` stops it)."""
        rules = rules_from_settings(settings)
        engine = cls(store, rules)
        if deliver and rules.rules:
            engine.deliverer = Deliverer(store, lambda: engine.rules, allow_private=settings.webhook_allow_private)
        return engine

    def close(self, timeout: float = 5.0) -> None:
        if self.deliverer is not None:
            self.deliverer.close(timeout)

    def required(self) -> list[tuple[str, str, float]]:
        """What the rules watch: (target pattern, figure, window seconds), for whoever
        computes the figures."""
        return sorted({(r.target, r.figure, r.window) for r in self.rules.rules})

    def evaluate(self, figures: Figures, now: datetime | float | None = None) -> list[AlertEvent]:
        """Move every alert the figures speak for; the events this call recorded."""
        at = _moment(now)
        work: list[tuple[Rule, str, float]] = []
        for rule in self.rules.rules:
            for target, value in _values(rule, figures).items():
                work.append((rule, target, value))
        if self.deliverer is not None:
            self.deliverer.recover()
        if not work:
            return []
        keys = {(rule.name, target) for rule, target, _ in work}
        if not keys <= self._ensured:
            self.store.ensure(keys - self._ensured)
            self._ensured |= keys
        states = {(s.rule, s.target): s for s in self.store.states(sorted({r.name for r, _, _ in work}))}
        events: list[AlertEvent] = []
        for rule, target, value in work:
            state = states.get((rule.name, target))
            if state is None:  # deleted under us: next time
                self._ensured.discard((rule.name, target))
                continue
            change = self._next(rule, target, value, state, at)
            if change is None:
                continue
            outcome = self.store.transition(change, at)
            if outcome is not None and outcome.event is not None:
                events.append(outcome.event)
                self._notify(outcome)
        return events

    async def evaluate_async(self, figures: Figures, now: datetime | float | None = None) -> list[AlertEvent]:
        """``evaluate`` on a thread, for the server's monitor loop (never blocks the loop)."""
        return await asyncio.to_thread(self.evaluate, figures, now)

    def _next(self, rule: Rule, target: str, value: float, state: AlertState, at: datetime) -> Transition | None:
        holds = rule.holds(value)
        current = state.state
        if current in (INACTIVE, RESOLVED):
            if not holds:
                return None
            if rule.for_ <= 0:
                return self._fire(rule, target, value, state, since=at, at=at)
            return Transition(rule.name, target, state.revision, PENDING, at, value)
        if current == PENDING:
            if not holds:
                return Transition(rule.name, target, state.revision, INACTIVE, None, value)
            since = state.since or at
            if (at - since).total_seconds() >= rule.for_:
                return self._fire(rule, target, value, state, since=since, at=at)
            return None
        if current == FIRING and not holds:
            payload = _payload(rule, target, value, RESOLVED, since=state.since, at=at)
            channels = tuple(_channel(c) for c in rule.notify)
            return Transition(
                rule.name,
                target,
                state.revision,
                RESOLVED,
                None,
                value,
                RESOLVED,
                payload,
                channels,
                **self._claim(channels),
            )
        return None

    def _fire(
        self, rule: Rule, target: str, value: float, state: AlertState, *, since: datetime, at: datetime
    ) -> Transition:
        channels = [_channel(c) for c in rule.notify]
        if rule.retrain is not None:
            channels.append(f"retrain:{rule.retrain}")
        payload = _payload(rule, target, value, FIRING, since=since, at=at)
        return Transition(
            rule.name,
            target,
            state.revision,
            FIRING,
            since,
            value,
            FIRING,
            payload,
            tuple(channels),
            **self._claim(channels),
        )

    def _claim(self, channels: Sequence[str]) -> dict[str, Any]:
        """Who sends these deliveries (this process's deliverer), for how long at first."""
        if self.deliverer is None:
            return {"worker": None}
        lease = max((self.deliverer.lease_seconds(c) for c in channels), default=0.0)
        return {"worker": self.deliverer.worker, "lease_seconds": lease}

    def _notify(self, outcome: Outcome) -> None:
        """The log line at once; the rest to the deliverer (without one, the deliveries stay
        pending and unclaimed, for a worker that has one to take)."""
        event = outcome.event
        assert event is not None
        for delivery in outcome.deliveries:
            if delivery.channel == LOG:
                log_event(event.payload)
                self._mark(delivery.id, DELIVERED, None)
            elif self.deliverer is not None:
                self.deliverer.submit(delivery, event.payload)

    def _mark(self, delivery_id: int, status: str, error: str | None) -> None:
        try:
            self.store.record_attempt(delivery_id, status=status, attempts=1, last_status=None, last_error=error)
        except ShipyardError:
            logger.exception("could not record alert delivery %d", delivery_id)


def _channel(name: str) -> str:
    return LOG if name == LOG else f"webhook:{name}"


def _values(rule: Rule, figures: Figures) -> dict[str, float]:
    """The rule's value per matching target (a key with the rule's window wins)."""
    plain: dict[str, float] = {}
    windowed: dict[str, float] = {}
    for key, value in figures.items():
        if key[1] != rule.figure or not rule.matches(key[0]) or value is None:
            continue
        number = float(value)
        if math.isnan(number):
            continue
        if len(key) == 3:
            if math.isclose(float(key[2]), rule.window):
                windowed[key[0]] = number
        else:
            plain[key[0]] = number
    return {**plain, **windowed}


def _payload(
    rule: Rule, target: str, value: float, kind: str, *, since: datetime | None, at: datetime
) -> dict[str, Any]:
    verb = "is" if kind == FIRING else "is back to"
    return {
        "alert": rule.name,
        "state": kind,
        "target": target,
        "figure": rule.figure,
        "value": value if math.isfinite(value) else None,
        "op": rule.op,
        "threshold": rule.threshold,
        "window_seconds": rule.window,
        "for_seconds": rule.for_,
        "severity": rule.severity,
        "description": rule.description,
        "since": since.isoformat() if since else None,
        "at": at.isoformat(),
        "summary": f"{rule.figure} of {target} {verb} {value:g} (rule: {rule.condition()})",
        "host": os.uname().nodename,
    }


def _moment(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("give evaluate() an aware datetime (UTC)")
        return now.astimezone(UTC)
    return datetime.fromtimestamp(float(now), UTC)
