"""Decisions delivered to the ticket's webhook by the server's review worker: a real local
HTTP receiver checks the signature (alert webhook signing: HMAC-SHA256 of the timestamp and
the body); a refused URL and a failing receiver are recorded, retried or given up."""

from __future__ import annotations

from pathlib import Path

from review_support import SECRET, Receiver, call, open_ticket, subject

from live_server import LiveServer
from shipyard.bootstrap import Services, open_services
from shipyard.config import Settings
from shipyard.monitoring.alerts.signing import DELIVERY_HEADER, EVENT_HEADER, verify
from shipyard.monitoring.review_worker import ReviewWorker
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.reviews import DELIVERY_ATTEMPTS


def test_the_decision_reaches_the_webhook_signed(server: LiveServer, keys: dict[str, str]) -> None:
    with Receiver() as receiver:
        ticket = open_ticket(
            server.home, caller=subject(keys["predictor"]), request_id="req-hook", webhook=receiver.url
        )
        decision = {"action": "override", "outputs": {"predict": ["no"]}, "comment": "checked by hand"}
        assert (
            call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json=decision).status_code == 200
        )
        headers, body = receiver.wait()
        raw = receiver.received[0][1]
    assert verify(SECRET.encode(), headers, raw)
    assert not verify(b"another secret", headers, raw)
    assert not verify(SECRET.encode(), headers, raw + b" ")
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered[DELIVERY_HEADER.lower()] == ticket.id
    assert lowered[EVENT_HEADER.lower()] == "review.decision"
    assert body["ticket"] == ticket.id and body["decision"] == "override"
    assert body["outputs"] == {"predict": ["no"]} and body["request_id"] == "req-hook"
    assert "inputs" not in body  # the inputs never leave in a webhook
    assert len(receiver.received) == 1  # delivered once
    # Delivered once, then the URL is forgotten; the delivery is audited.
    shown = call(server, "GET", f"/reviews/{ticket.id}", keys["reviewer"]).json()
    assert shown["webhook"] is False
    audit = call(server, "GET", "/api/audit", params={"resource": ticket.id, "action": "review.notify"}).json()
    assert [e["details"]["state"] for e in audit["entries"]] == ["delivered"]


def test_an_expiry_reaches_the_webhook_too(server: LiveServer, keys: dict[str, str]) -> None:
    with Receiver() as receiver:
        ticket = open_ticket(
            server.home,
            caller=subject(keys["predictor"]),
            request_id="req-hook-expiry",
            timeout=0.3,
            fallback={"answer": {"predict": "no"}},
            webhook=receiver.url,
        )
        headers, body = receiver.wait()
        raw = receiver.received[0][1]
    assert verify(SECRET.encode(), headers, raw)
    assert body["ticket"] == ticket.id and body["decision"] == "expired" and body["outputs"] == {"predict": ["no"]}


def _worker(home: Path, *, allow_private: bool, secret: str | None = SECRET) -> tuple[ReviewWorker, Services]:
    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    env = {} if secret is None else {"SHIPYARD_REVIEW_WEBHOOK_SECRET": secret}
    return ReviewWorker(services.store.reviews, None, seconds=1, allow_private=allow_private, env=env), services


def test_a_failing_receiver_is_retried_then_given_up(tmp_path: Path) -> None:
    from prediction_homes import build_home

    build_home(tmp_path)
    worker, services = _worker(tmp_path, allow_private=True)
    store = services.store
    try:
        with Receiver(status=503) as receiver:
            ticket = open_ticket(tmp_path, caller="key:abc", request_id="req-503", webhook=receiver.url)
            store.reviews.decide(ticket.id, "approve", actor="user:rita")
            counts = worker.run_once()
            assert (counts.finished, counts.delivered, counts.failed) == (1, 0, 1)
            state = store.reviews.get(ticket.id)
            assert state.extra["delivery"]["state"] == "retrying" and state.extra["delivery"]["status"] == 503
            assert state.webhook is not None
            # Leased until the retry: another run takes nothing.
            assert worker.run_once().finished == 0
            # Each retry once its time has come (moved to now here), until the last attempt.
            for _ in range(DELIVERY_ATTEMPTS - 1):
                _due_now(store, ticket.id)
                worker.run_once()
            final = store.reviews.get(ticket.id)
            assert final.extra["delivery"]["state"] == "failed"
            assert final.extra["delivery"]["attempts"] == DELIVERY_ATTEMPTS
            assert final.webhook is None
            assert len(receiver.received) == DELIVERY_ATTEMPTS
    finally:
        services.close()


def test_a_refused_url_or_a_missing_secret_is_given_up_at_once(tmp_path: Path) -> None:
    from prediction_homes import build_home

    build_home(tmp_path)
    with Receiver() as receiver:
        for allow_private, secret, url, says in (
            (False, SECRET, receiver.url, "loopback"),
            (True, None, receiver.url, "SHIPYARD_REVIEW_WEBHOOK_SECRET"),
            (True, SECRET, "ftp://example.com/x", "http or https"),
            (True, SECRET, "http://user:pw@127.0.0.1/x", "no user or password"),
        ):
            worker, services = _worker(tmp_path, allow_private=allow_private, secret=secret)
            store = services.store
            try:
                ticket = open_ticket(tmp_path, caller="key:abc", request_id="req-refused", webhook=url)
                store.reviews.decide(ticket.id, "approve", actor="user:rita")
                assert worker.run_once().failed == 1
                final = store.reviews.get(ticket.id)
                assert final.extra["delivery"]["state"] == "failed", final.extra
                assert says in final.extra["delivery"]["error"]
                assert "pw" not in final.extra["delivery"]["error"]
            finally:
                services.close()
        assert receiver.received == []


def _due_now(store: RegistryStore, ticket_id: str) -> None:
    import sqlalchemy as sa

    from shipyard.registry.sql.queries import now
    from shipyard.registry.sql.tables import review_tickets

    engine = store._engine  # a test moves the retry time to now
    with engine.begin() as conn:
        conn.execute(sa.update(review_tickets).where(review_tickets.c.id == ticket_id).values(notified_at=now()))
