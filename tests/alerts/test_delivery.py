"""Deliveries to a real webhook receiver on loopback: signed, retried with backoff, failures
recorded; loopback refused unless allowed; retraining commands run with the event."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from webhook_receiver import Receiver

from shipyard.monitoring.alerts import AlertEngine, Backoff, Deliverer, parse_rules, verify
from shipyard.registry.sql import RegistryStore

SECRET = "correct horse battery staple"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FIRE = {("fraud", "drift.share"): 0.9}
CALM = {("fraud", "drift.share"): 0.0}


def rules_text(url: str, *, attempts: int = 5, retrain: str = "") -> str:
    return f"""\
webhooks:
  ops:
    url: {url}
    secret_env: HOOK_SECRET
    attempts: {attempts}
    timeout: 2s
{retrain}
rules:
  - name: drift-high
    target: fraud
    figure: drift.share
    op: ">"
    threshold: 0.3
    notify: [ops, log]
    {"retrain: again" if retrain else ""}
"""


def engine_for(
    store: RegistryStore, text: str, *, allow_private: bool = True, env: dict[str, str] | None = None
) -> AlertEngine:
    rules = parse_rules(text, allow_private=True)
    engine = AlertEngine(store.alerts, rules)
    engine.deliverer = Deliverer(
        store.alerts,
        lambda: engine.rules,
        allow_private=allow_private,
        backoff=Backoff(base=0.05, cap=0.2),
        env={"HOOK_SECRET": SECRET} if env is None else env,
    )
    return engine


def webhook_delivery(store: RegistryStore, event_id: int) -> dict[str, object]:
    (delivery,) = [d for d in store.alerts.deliveries(event_id=event_id) if d.channel == "webhook:ops"]
    return delivery.to_dict()


def test_a_firing_and_its_resolution_reach_the_webhook_signed(store: RegistryStore, receiver: Receiver) -> None:
    engine = engine_for(store, rules_text(receiver.url))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        (resolved,) = engine.evaluate(CALM, NOW.timestamp() + 60)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
    first, second = receiver.wait_for(2)
    assert len(receiver.requests) == 2
    for got, event in ((first, fired), (second, resolved)):
        assert got.path == "/hook"
        assert got.headers["Content-Type"] == "application/json"
        assert verify(SECRET.encode(), got.headers, got.body)
        assert not verify(b"another secret", got.headers, got.body)
        assert not verify(SECRET.encode(), got.headers, got.body + b" ")
        stamp = int(got.headers["X-Shipyard-Timestamp"])
        assert not verify(SECRET.encode(), {**got.headers, "X-Shipyard-Timestamp": str(stamp + 1)}, got.body)
        body = json.loads(got.body)
        assert body == event.payload
        assert got.headers["X-Shipyard-Event"] == str(event.id)
    assert json.loads(first.body)["state"] == "firing" and json.loads(second.body)["state"] == "resolved"
    # A replayed body with its old timestamp is refused once the tolerance has passed.
    assert not verify(SECRET.encode(), first.headers, first.body, now=time.time() + 3600)
    assert webhook_delivery(store, fired.id)["status"] == "delivered"
    assert webhook_delivery(store, fired.id)["attempts"] == 1
    assert webhook_delivery(store, fired.id)["last_status"] == 200


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(store: RegistryStore, receiver: Receiver) -> None:
    receiver.fail_first = 3
    engine = engine_for(store, rules_text(receiver.url, attempts=5))
    try:
        started = time.monotonic()
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(20)
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    assert len(receiver.requests) == 4
    # Backoff: at least half of 0.05 + 0.1 + 0.2 seconds were waited between attempts.
    assert elapsed >= (0.05 + 0.1 + 0.2) / 2
    # The retries carry the same delivery id, so a receiver can tell a retry from a new alert.
    assert len({r.headers["X-Shipyard-Delivery"] for r in receiver.requests}) == 1
    delivery = webhook_delivery(store, fired.id)
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("delivered", 4, 200)


def test_a_receiver_that_keeps_failing_leaves_a_visible_failure(store: RegistryStore, receiver: Receiver) -> None:
    receiver.fail_first = 100
    engine = engine_for(store, rules_text(receiver.url, attempts=3))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(20)
    finally:
        engine.close()
    assert len(receiver.requests) == 3
    delivery = webhook_delivery(store, fired.id)
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("failed", 3, 503)
    assert "HTTP 503" in str(delivery["last_error"])


def test_a_client_error_is_not_retried(store: RegistryStore, receiver: Receiver) -> None:
    receiver.fail_first, receiver.fail_status = 100, 400
    engine = engine_for(store, rules_text(receiver.url, attempts=5))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
    assert len(receiver.requests) == 1
    assert webhook_delivery(store, fired.id)["status"] == "failed"


def test_redirects_are_not_followed(store: RegistryStore, receiver: Receiver) -> None:
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data"
    engine = engine_for(store, rules_text(receiver.url))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
    assert len(receiver.requests) == 1
    delivery = webhook_delivery(store, fired.id)
    assert (delivery["status"], delivery["last_status"]) == ("failed", 307)
    assert "redirects are not followed" in str(delivery["last_error"])


def test_loopback_is_refused_again_at_delivery_time(store: RegistryStore, receiver: Receiver) -> None:
    # The file was accepted (say the name resolved elsewhere then); delivery checks again.
    engine = engine_for(store, rules_text(receiver.url), allow_private=False)
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
    assert receiver.requests == []
    delivery = webhook_delivery(store, fired.id)
    assert delivery["status"] == "failed" and "loopback" in str(delivery["last_error"])


def test_a_missing_secret_fails_the_delivery_without_sending(store: RegistryStore, receiver: Receiver) -> None:
    engine = engine_for(store, rules_text(receiver.url), env={})
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
    assert receiver.requests == []
    error = str(webhook_delivery(store, fired.id)["last_error"])
    assert "HOOK_SECRET" in error and SECRET not in error


def test_an_unresolvable_host_is_retried_then_recorded(store: RegistryStore) -> None:
    engine = engine_for(store, rules_text("https://no-such-host.invalid/hook", attempts=2))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(20)
    finally:
        engine.close()
    delivery = webhook_delivery(store, fired.id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert "does not resolve" in str(delivery["last_error"])


def retrain_block(script: Path, out: Path, timeout: str = "30s") -> str:
    return f"""\
retrain:
  again:
    command: ["{sys.executable}", "{script}", "{out}"]
    timeout: {timeout}
"""


def test_a_retraining_command_gets_the_alert_on_stdin_once(
    store: RegistryStore, receiver: Receiver, tmp_path: Path
) -> None:
    script = tmp_path / "retrain.py"
    script.write_text(
        "import json, os, sys\n"
        "doc = json.load(sys.stdin)\n"
        "assert json.loads(os.environ['SHIPYARD_ALERT']) == doc\n"
        "with open(sys.argv[1], 'a') as f: f.write(json.dumps(doc) + '\\n')\n"
    )
    out = tmp_path / "runs.jsonl"
    engine = engine_for(store, rules_text(receiver.url, retrain=retrain_block(script, out)))
    try:
        (fired,) = engine.evaluate(FIRE, NOW)
        engine.evaluate(FIRE, NOW.timestamp() + 60)
        engine.evaluate(CALM, NOW.timestamp() + 120)  # a resolution retrains nothing
        assert engine.deliverer is not None and engine.deliverer.wait_idle(30)
    finally:
        engine.close()
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert runs == [fired.payload]
    (retrain,) = [d for d in store.alerts.deliveries() if d.channel == "retrain:again"]
    assert (retrain.status, retrain.attempts, retrain.last_status) == ("delivered", 1, 0)


@pytest.mark.parametrize(
    ("body", "timeout", "words"),
    [
        ("import sys; sys.stderr.write('no GPU today'); sys.exit(3)", "30s", "exit status 3: no GPU today"),
        ("import time; time.sleep(30)", "1s", "did not finish within 1s"),
    ],
)
def test_a_failing_retraining_command_is_recorded(
    store: RegistryStore, receiver: Receiver, tmp_path: Path, body: str, timeout: str, words: str
) -> None:
    script = tmp_path / "retrain.py"
    script.write_text(body)
    engine = engine_for(store, rules_text(receiver.url, retrain=retrain_block(script, tmp_path / "x", timeout)))
    try:
        engine.evaluate(FIRE, NOW)
        assert engine.deliverer is not None and engine.deliverer.wait_idle(30)
    finally:
        engine.close()
    (retrain,) = [d for d in store.alerts.deliveries() if d.channel == "retrain:again"]
    assert retrain.status == "failed" and words in str(retrain.last_error)


def test_a_full_queue_records_the_failure_instead_of_blocking(store: RegistryStore, receiver: Receiver) -> None:
    rules = parse_rules(rules_text(receiver.url), allow_private=True)
    engine = AlertEngine(store.alerts, rules)
    engine.deliverer = Deliverer(store.alerts, lambda: rules, allow_private=True, max_queue=0, env={"HOOK_SECRET": "x"})
    try:
        started = time.monotonic()
        (fired,) = engine.evaluate(FIRE, NOW)
        assert time.monotonic() - started < 5
    finally:
        engine.close()
    delivery = webhook_delivery(store, fired.id)
    assert delivery["status"] == "failed" and "queue is full" in str(delivery["last_error"])


def test_deliveries_left_by_a_dead_worker_are_sent_once_by_another(db_url: str, receiver: Receiver) -> None:
    """A worker recorded a firing and died before sending: its claim runs out, and of two
    live workers recovering at the same moment, one sends each delivery, once."""
    from shipyard.registry.sql.alerts import Transition

    text = rules_text(receiver.url)
    dead = RegistryStore(db_url)
    try:
        dead.alerts.ensure([("drift-high", "fraud")])
        payload = {"alert": "drift-high", "state": "firing", "summary": "left behind", "severity": "warning"}
        change = Transition(
            "drift-high",
            "fraud",
            0,
            "firing",
            NOW,
            0.9,
            "firing",
            payload,
            ("webhook:ops", "log"),
            worker="dead-worker",
            lease_seconds=0.0,
        )
        outcome = dead.alerts.transition(change, NOW)
        assert outcome is not None and outcome.event is not None
    finally:
        dead.close()
    stores = [RegistryStore(db_url), RegistryStore(db_url)]
    engines = [engine_for(s, text) for s in stores]
    try:
        claimed = [e.deliverer.recover(force=True) for e in engines if e.deliverer is not None]
        assert sorted(claimed) == [0, 2]
        for engine in engines:
            assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
        statuses = {d.channel: (d.status, d.attempts) for d in stores[0].alerts.deliveries()}
    finally:
        for engine in engines:
            engine.close()
        for opened in stores:
            opened.close()
    (got,) = receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    assert json.loads(got.body)["summary"] == "left behind" and verify(SECRET.encode(), got.headers, got.body)
    assert statuses == {"webhook:ops": ("delivered", 1), "log": ("delivered", 1)}


def test_a_live_workers_deliveries_are_not_taken_by_others(store: RegistryStore, receiver: Receiver) -> None:
    receiver.fail_first = 1  # the first attempt fails: the delivery waits for its retry
    engine = engine_for(store, rules_text(receiver.url))
    other = engine_for(store, rules_text(receiver.url))
    try:
        engine.evaluate(FIRE, NOW)
        receiver.wait_for(1)
        assert other.deliverer is not None and other.deliverer.recover(force=True) == 0
        assert engine.deliverer is not None and engine.deliverer.wait_idle(10)
    finally:
        engine.close()
        other.close()
    assert len(receiver.requests) == 2
