"""The engine: pending → firing → resolved on shared state, notified once, on SQLite and
PostgreSQL, whether two engines take turns or evaluate at the same moment."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from alert_workers import evaluate_together
from webhook_receiver import Receiver

from registry_backends import run_together
from shipyard.monitoring.alerts import AlertEngine, parse_rules
from shipyard.registry.sql import RegistryStore

RULES = """\
rules:
  - name: drift-high
    target: fraud*
    figure: drift.share
    op: ">"
    threshold: 0.3
    window: 1h
    for: 5m
    severity: critical
    notify: [log]
  - name: accuracy-low
    target: iris
    figure: performance.accuracy
    op: "<"
    threshold: 0.9
    notify: [log]
"""
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def kinds(store: RegistryStore) -> list[tuple[str, str, str, int]]:
    return sorted((e.rule, e.target, e.kind, e.episode) for e in store.alerts.events(limit=1000))


def state_of(store: RegistryStore, rule: str, target: str) -> str:
    return next(s.state for s in store.alerts.states() if (s.rule, s.target) == (rule, target))


def test_an_alert_goes_pending_then_fires_then_resolves(store: RegistryStore) -> None:
    engine = AlertEngine(store.alerts, parse_rules(RULES))
    high = {("fraud-eu", "drift.share"): 0.5, ("iris", "drift.share"): 0.9}  # iris: no rule on its drift
    assert engine.evaluate(high, at(0)) == []
    assert state_of(store, "drift-high", "fraud-eu") == "pending"
    assert engine.evaluate(high, at(4)) == []  # held 4 of 5 minutes
    (fired,) = engine.evaluate(high, at(5))
    assert (fired.rule, fired.target, fired.kind, fired.episode) == ("drift-high", "fraud-eu", "firing", 1)
    assert (
        fired.payload["value"] == 0.5 and fired.payload["threshold"] == 0.3 and fired.payload["severity"] == "critical"
    )
    assert fired.payload["since"] == at(0).isoformat() and fired.payload["event_id"] == fired.id
    assert engine.evaluate(high, at(6)) == []  # still firing: nothing new
    (resolved,) = engine.evaluate({("fraud-eu", "drift.share"): 0.1}, at(7))
    assert (resolved.kind, resolved.episode) == ("resolved", 1)
    assert state_of(store, "drift-high", "fraud-eu") == "resolved"
    # The log channel is delivered at once and recorded.
    deliveries = store.alerts.deliveries()
    assert [(d.channel, d.status, d.event_id) for d in deliveries] == [
        ("log", "delivered", resolved.id),
        ("log", "delivered", fired.id),
    ]
    # Firing again is a new episode.
    engine.evaluate(high, at(10))
    (again,) = engine.evaluate(high, at(15))
    assert (again.kind, again.episode) == ("firing", 2)


def test_a_condition_that_stops_holding_while_pending_never_fires(store: RegistryStore) -> None:
    engine = AlertEngine(store.alerts, parse_rules(RULES))
    engine.evaluate({("fraud", "drift.share"): 0.5}, at(0))
    engine.evaluate({("fraud", "drift.share"): 0.2}, at(3))
    assert state_of(store, "drift-high", "fraud") == "inactive"
    engine.evaluate({("fraud", "drift.share"): 0.5}, at(4))
    assert engine.evaluate({("fraud", "drift.share"): 0.5}, at(8)) == []  # restarted at minute 4
    assert len(engine.evaluate({("fraud", "drift.share"): 0.5}, at(9))) == 1
    assert kinds(store) == [("drift-high", "fraud", "firing", 1)]


def test_for_zero_fires_at_once_and_missing_or_nan_figures_keep_the_state(store: RegistryStore) -> None:
    engine = AlertEngine(store.alerts, parse_rules(RULES))
    (fired,) = engine.evaluate({("iris", "performance.accuracy"): 0.8}, at(0))
    assert fired.kind == "firing"
    assert engine.evaluate({}, at(1)) == []
    assert engine.evaluate({("iris", "performance.accuracy"): float("nan")}, at(2)) == []
    assert engine.evaluate({("iris", "performance.accuracy"): None}, at(3)) == []
    assert state_of(store, "accuracy-low", "iris") == "firing"
    # A figure of another name, or for a target the rule does not match, is not this rule's.
    assert engine.evaluate({("iris", "performance.f1"): 0.99, ("iris2", "performance.accuracy"): 0.99}, at(4)) == []
    assert state_of(store, "accuracy-low", "iris") == "firing"


def test_a_figure_keyed_by_the_rules_window_wins(store: RegistryStore) -> None:
    engine = AlertEngine(store.alerts, parse_rules(RULES.replace("for: 5m", "for: 0s")))
    figures = {
        ("fraud", "drift.share"): 0.9,
        ("fraud", "drift.share", 86400.0): 0.9,
        ("fraud", "drift.share", 3600.0): 0.1,
    }
    assert engine.evaluate(figures, at(0)) == []
    assert len(engine.evaluate({("fraud", "drift.share", 3600.0): 0.4}, at(1))) == 1
    assert engine.required() == [("fraud*", "drift.share", 3600.0), ("iris", "performance.accuracy", 3600.0)]


def test_two_engines_sharing_a_database_notify_each_transition_once(db_url: str) -> None:
    rules = parse_rules(RULES)
    first, second = RegistryStore(db_url), RegistryStore(db_url)
    try:
        a, b = AlertEngine(first.alerts, rules), AlertEngine(second.alerts, rules)
        high = {("fraud-eu", "drift.share"): 0.5, ("fraud-us", "drift.share"): 0.6}
        low = {("fraud-eu", "drift.share"): 0.1, ("fraud-us", "drift.share"): 0.1}
        timeline = [(high, 0), (high, 2), (high, 5), (high, 6), (low, 7), (low, 8), (high, 9), (high, 14), (high, 15)]
        recorded = []
        for figures, minute in timeline:
            # Both workers evaluate the same figures at (nearly) the same moment.
            recorded += a.evaluate(figures, at(minute))
            recorded += b.evaluate(figures, at(minute) + timedelta(seconds=1))
        assert kinds(first) == [
            ("drift-high", "fraud-eu", "firing", 1),
            ("drift-high", "fraud-eu", "firing", 2),
            ("drift-high", "fraud-eu", "resolved", 1),
            ("drift-high", "fraud-us", "firing", 1),
            ("drift-high", "fraud-us", "firing", 2),
            ("drift-high", "fraud-us", "resolved", 1),
        ]
        assert sorted(e.id for e in recorded) == sorted(e.id for e in first.alerts.events())
        assert len(first.alerts.deliveries()) == 6
    finally:
        first.close()
        second.close()


def test_concurrent_evaluations_record_one_event(db_url: str) -> None:
    rules = parse_rules(RULES)
    stores = [RegistryStore(db_url) for _ in range(4)]
    try:
        engines = [AlertEngine(s.alerts, rules) for s in stores]
        figures = {(f"fraud-{i}", "drift.share"): 0.9 for i in range(5)}
        for engine in engines:
            engine.evaluate(figures, at(0))
        barrier = threading.Barrier(len(engines))
        results: list[int] = []
        errors: list[BaseException] = []

        def run(engine: AlertEngine) -> None:
            barrier.wait()
            try:
                results.append(len(engine.evaluate(figures, at(6))))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sum(results) == 5
        assert len(stores[0].alerts.events()) == 5
        assert len(stores[0].alerts.deliveries()) == 5
    finally:
        for s in stores:
            s.close()


def test_evaluate_takes_unix_seconds_and_refuses_naive_times(store: RegistryStore) -> None:
    engine = AlertEngine(store.alerts, parse_rules(RULES))
    (fired,) = engine.evaluate({("iris", "performance.accuracy"): 0.5}, T0.timestamp())
    assert fired.at == T0
    with pytest.raises(ValueError, match="aware"):
        engine.evaluate({("iris", "performance.accuracy"): 0.5}, datetime(2026, 1, 1))


def test_worker_processes_evaluating_together_notify_each_transition_once(db_url: str) -> None:

    with Receiver() as receiver:
        text = f"""\
webhooks:
  ops:
    url: {receiver.url}
    secret_env: HOOK_SECRET
rules:
  - name: drift-high
    target: fraud-*
    figure: drift.share
    op: ">"
    threshold: 0.3
    for: 5m
    notify: [ops]
"""
        results = run_together(evaluate_together, [(db_url, text, "s3cret")] * 4)
        assert [status for _, status, _ in results] == ["ok"] * 4, results
        # 3 targets x (fire, resolve, fire, resolve) = 12 transitions, each recorded by one worker.
        assert sum(won for _, _, won in results) == 12
        requests = receiver.wait_for(12)
        time.sleep(0.3)
        assert len(receiver.requests) == 12
    bodies = sorted((r.headers["X-Shipyard-Event"], r.body) for r in requests)
    assert len({event for event, _ in bodies}) == 12
    store = RegistryStore(db_url)
    try:
        assert len(store.alerts.events(limit=100)) == 12
        assert {d.status for d in store.alerts.deliveries(limit=100)} == {"delivered"}
    finally:
        store.close()
