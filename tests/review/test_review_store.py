"""``ReviewStore`` on SQLite and PostgreSQL: opening tickets (and refusing bad ones),
claims and decisions as compare-and-set (one winner among processes racing), expiry with
the fallback, finished tickets taken once, feedback from decisions, listing, and the audit
entries of every change."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from registry_backends import backend, db_url, run_together, store
from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.registry.review_types import NewTicket
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.audit import AuditFilter
from shipyard.registry.sql.queries import now

__all__ = ["backend", "db_url", "store"]

NEW = NewTicket(
    target="fraud",
    model="fraud",
    version=2,
    deployment=None,
    variant=None,
    request_id="req-1",
    caller="key:aaaaaaaaaaaa",
    key="customer-7",
    reasons=["classes"],
    inputs={"amount": [12.5, 99.0]},
    proposed={"predict": ["ok", "fraud"]},
    fallback={"answer": {"predict": "hold"}},
    timeout_seconds=60,
)


def test_open_and_read_back(store: RegistryStore) -> None:
    ticket = store.reviews.open(NEW)
    assert ticket.id.startswith("rv_") and len(ticket.id) == 27
    assert (ticket.deadline_at - ticket.created_at) == timedelta(seconds=60)
    again = store.reviews.get(ticket.id)
    assert again == ticket
    assert again.rows == 2 and again.status == "pending"
    assert [t.id for t in store.reviews.list(status="open", target="fraud")] == [ticket.id]
    assert store.reviews.list(status="decided") == []
    assert store.reviews.counts() == {"pending": 1, "claimed": 0, "decided": 0, "expired": 0}
    # Two tickets never share an id.
    assert len({store.reviews.open(NEW).id for _ in range(20)}) == 20


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"target": "../x"}, "invalid model name"),
        ({"model": ""}, "invalid model name"),
        ({"version": 0}, "positive integer"),
        ({"version": True}, "positive integer"),
        ({"request_id": ""}, "request id"),
        ({"request_id": "x" * 129}, "request id"),
        ({"caller": None}, "caller"),
        ({"deployment": "d" * 129}, "deployment"),
        ({"reasons": ["x" * 65]}, "reasons"),
        ({"reasons": ["a"] * 33}, "reasons"),
        ({"timeout_seconds": 0}, "timeout"),
        ({"timeout_seconds": float("nan")}, "timeout"),
        ({"timeout_seconds": 31 * 86400}, "timeout"),
        ({"inputs": [1, 2]}, "mapping"),
        ({"fallback": "hold"}, "fallback"),
        ({"webhook": ""}, "webhook"),
        ({"inputs": {"x": object()}}, "JSON"),
        ({"inputs": {"x": "y" * (1 << 20)}}, "larger than"),
    ],
)
def test_a_bad_ticket_is_refused(store: RegistryStore, change: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidRequest, match=says):
        store.reviews.open(replace(NEW, **change))
    assert store.reviews.counts()["pending"] == 0


def test_claim_and_decide_rules(store: RegistryStore) -> None:
    ticket = store.reviews.open(NEW)
    with pytest.raises(NotFound):
        store.reviews.get("rv_" + "x" * 24)
    with pytest.raises(NotFound):
        store.reviews.claim("not-a-ticket", "user:a")
    claimed = store.reviews.claim(ticket.id, "user:a")
    assert claimed.status == "claimed" and claimed.claimed_by == "user:a"
    assert store.reviews.claim(ticket.id, "user:a").claimed_at == claimed.claimed_at  # the same claimer: no change
    with pytest.raises(Conflict, match="claimed by user:a"):
        store.reviews.claim(ticket.id, "user:b")
    with pytest.raises(Conflict, match="claimed by user:a"):
        store.reviews.decide(ticket.id, "approve", actor="user:b")
    with pytest.raises(InvalidRequest, match="approve or override"):
        store.reviews.decide(ticket.id, "reject", actor="user:a")
    decided = store.reviews.decide(ticket.id, "override", actor="user:a", outputs={"predict": ["ok", "ok"]})
    assert decided.decision == "override" and decided.outputs == {"predict": ["ok", "ok"]}
    with pytest.raises(Conflict, match="already decided"):
        store.reviews.decide(ticket.id, "approve", actor="user:a")
    with pytest.raises(Conflict, match="already decided"):
        store.reviews.claim(ticket.id, "user:a")
    # The decision is the label of each row, by the reviewer.
    facts = store.feedback.for_request("req-1")
    assert [(f["row"], f["label"]) for f in facts] == [(0, "ok"), (1, "ok")]
    # Every change is in the audit trail, and the chain holds.
    actions = [(e.action, e.actor) for e in store.audit.list(AuditFilter(resource=ticket.id))]
    assert actions == [("review.open", "key:aaaaaaaaaaaa"), ("review.claim", "user:a"), ("review.decide", "user:a")]
    assert store.audit.verify().bad_seq is None


def test_expiry_answers_with_the_fallback(store: RegistryStore) -> None:
    with_fallback = store.reviews.open(NEW)
    without = store.reviews.open(replace(NEW, fallback=None, request_id="req-2"))
    as_outputs = store.reviews.open(replace(NEW, fallback={"predict": ["a", "b"]}, request_id="req-3"))
    later = store.reviews.open(replace(NEW, timeout_seconds=3600, request_id="req-4"))
    store.reviews.claim(without.id, "user:a")
    expired = store.reviews.expire_due(now() + timedelta(seconds=61))
    assert {t.id for t in expired} == {with_fallback.id, without.id, as_outputs.id}
    assert store.reviews.get(with_fallback.id).outputs == {"predict": ["hold", "hold"]}
    assert store.reviews.get(without.id).outputs is None
    assert store.reviews.get(as_outputs.id).outputs == {"predict": ["a", "b"]}
    assert store.reviews.get(later.id).status == "pending"
    assert store.reviews.expire_due(now() + timedelta(seconds=61)) == []  # once
    # No feedback from an expiry: nobody looked.
    assert store.reviews.record_feedback(store.reviews.get(with_fallback.id)) == 0
    assert store.feedback.for_request("req-1") == []
    entries = store.audit.list(AuditFilter(action="review.expire"))
    assert sorted(e.resource for e in entries) == sorted([with_fallback.id, without.id, as_outputs.id])


def test_finished_tickets_are_taken_once(store: RegistryStore) -> None:
    plain = store.reviews.open(NEW)
    hooked = store.reviews.open(replace(NEW, webhook="https://example.com/hook", request_id="req-2"))
    assert store.reviews.take_finished() == []  # nothing finished yet
    store.reviews.decide(plain.id, "approve", actor="user:a")
    store.reviews.decide(hooked.id, "approve", actor="user:a")
    taken = {f.ticket.id: f for f in store.reviews.take_finished(lease_seconds=60)}
    assert set(taken) == {plain.id, hooked.id}
    assert taken[plain.id].url is None and taken[plain.id].first
    assert taken[hooked.id].url == "https://example.com/hook"
    assert store.reviews.take_finished() == []  # leased / done
    store.reviews.delivered(hooked.id, ok=True, status=204)
    shown = store.reviews.get(hooked.id)
    assert shown.webhook is None and shown.extra["delivery"]["state"] == "delivered"
    assert store.reviews.take_finished() == []


def test_list_filters_and_limits(store: RegistryStore) -> None:
    a = store.reviews.open(NEW)
    b = store.reviews.open(replace(NEW, target="other", model="other"))
    assert [t.id for t in store.reviews.list(limit=1)] == [a.id]
    assert [t.id for t in store.reviews.list(target="other")] == [b.id]
    assert [t.id for t in store.reviews.list(status="pending")] == [a.id, b.id]
    for bad in ({"status": "maybe"}, {"limit": 0}, {"limit": 1001}, {"target": "../x"}):
        with pytest.raises(InvalidRequest):
            store.reviews.list(**bad)  # type: ignore[arg-type]


def _claim(url: str, ticket: str, index: int, barrier: Any, results: Any) -> None:
    opened = RegistryStore(url)
    try:
        barrier.wait()
        try:
            opened.reviews.claim(ticket, f"user:r{index}")
            results.put((index, "claimed", None))
        except Conflict as exc:
            results.put((index, "conflict", exc.message))
    finally:
        opened.close()


def _take(url: str, index: int, barrier: Any, results: Any) -> None:
    opened = RegistryStore(url)
    try:
        barrier.wait()
        results.put((index, "took", sorted(f.ticket.id for f in opened.reviews.take_finished())))
    finally:
        opened.close()


def test_racing_claims_have_one_winner(store: RegistryStore, db_url: str) -> None:
    ticket = store.reviews.open(NEW)
    outcomes = run_together(_claim, [(db_url, ticket.id)] * 4)
    assert [o[1] for o in outcomes].count("claimed") == 1, outcomes
    winner = next(i for i, status, _ in outcomes if status == "claimed")
    assert store.reviews.get(ticket.id).claimed_by == f"user:r{winner}"


def test_racing_workers_take_each_ticket_once(store: RegistryStore, db_url: str) -> None:
    ids = []
    for i in range(6):
        t = store.reviews.open(replace(NEW, request_id=f"req-{i}", webhook="https://example.com/h" if i % 2 else None))
        store.reviews.decide(t.id, "approve", actor="user:a")
        ids.append(t.id)
    outcomes = run_together(_take, [(db_url,)] * 3)
    taken = [tid for _, _, got in outcomes for tid in got]
    assert sorted(taken) == sorted(ids), outcomes
