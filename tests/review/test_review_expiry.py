"""A ticket nobody decides by its deadline expires, in the server's review worker, with the
fallback answer; the caller's poll then has that answer (or none without a fallback), and a
late decision is refused."""

from __future__ import annotations

from review_support import call, open_ticket, subject

from live_server import LiveServer
from prediction_homes import wait_for


def _status(server: LiveServer, token: str, ticket: str) -> str:
    return str(call(server, "GET", f"/reviews/{ticket}", token).json()["status"])


def test_timeout_answers_with_the_fallback(server: LiveServer, keys: dict[str, str]) -> None:
    token = keys["predictor"]
    ticket = open_ticket(
        server.home,
        caller=subject(token),
        request_id="req-timeout",
        rows=2,
        timeout=0.5,
        fallback={"answer": {"predict": "no"}},
    )
    assert _status(server, token, ticket.id) == "pending"
    wait_for(lambda: _status(server, token, ticket.id) == "expired")
    polled = call(server, "GET", f"/reviews/{ticket.id}", token).json()
    assert polled["decision"] == "expired"
    assert polled["outputs"] == {"predict": ["no", "no"]}
    assert "decided_by" not in polled
    # Too late to decide or claim.
    late = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json={"action": "approve"})
    assert late.status_code == 409 and "expired" in late.json()["error"]
    assert call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer"]).status_code == 409
    # Audited by the system, and the wait is exported under decision="expired".
    audit = call(server, "GET", "/api/audit", params={"resource": ticket.id, "action": "review.expire"}).json()
    assert [e["actor"] for e in audit["entries"]] == ["system:review"]
    wait_for(lambda: 'decision="expired"' in call(server, "GET", "/metrics").text)


def test_a_claimed_ticket_expires_too(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(
        server.home,
        caller=subject(keys["predictor"]),
        request_id="req-claimed-timeout",
        timeout=0.5,
        fallback={"predict": ["maybe"]},
    )
    assert call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer"]).status_code == 200
    wait_for(lambda: _status(server, keys["predictor"], ticket.id) == "expired")
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).json()["outputs"] == {"predict": ["maybe"]}


def test_without_a_fallback_an_expired_ticket_has_no_answer(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-nofallback", timeout=0.3)
    wait_for(lambda: _status(server, keys["predictor"], ticket.id) == "expired")
    polled = call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).json()
    assert polled["decision"] == "expired" and "outputs" not in polled
