"""The review queue over HTTP against a real server: the round trip (open → list → claim →
decide → the caller polls the answer, recorded as feedback and audited), the scopes of each
route, and every kind of bad input (unknown ticket, bad action, outputs that do not fit,
deciding twice, a claim by another reviewer)."""

from __future__ import annotations

import httpx
import pytest
from review_support import call, open_ticket, subject

from live_server import LiveServer
from prediction_homes import predict, wait_for


def test_round_trip_through_the_api(server: LiveServer, keys: dict[str, str]) -> None:
    rid, _ = predict(server, "txt", rows=2, token=keys["predictor"], seed=3)
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id=rid, rows=2)
    assert ticket.id.startswith("rv_") and len(ticket.id) == 27
    # The caller polls: pending, no answer yet.
    polled = call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"])
    assert polled.status_code == 200, polled.text
    body = polled.json()
    assert body["status"] == "pending" and body["request_id"] == rid and body["model"] == "txt"
    assert "outputs" not in body and "inputs" not in body and "decision" not in body
    # The reviewer sees it in the queue, with the inputs and the proposed answer.
    queue = call(server, "GET", "/reviews", keys["reviewer"], params={"status": "open", "target": "txt"})
    assert queue.status_code == 200, queue.text
    listed = {t["ticket"]: t for t in queue.json()["tickets"]}
    assert listed[ticket.id]["proposed"]["predict"] == ["yes", "yes"]
    assert listed[ticket.id]["reasons"] == ["low_confidence"]
    # Claim (twice by the same reviewer is fine), then override row 1.
    claimed = call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer"])
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "claimed" and claimed.json()["claimed_by"] == subject(keys["reviewer"])
    assert call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer"]).status_code == 200
    decision = {"action": "override", "outputs": {"predict": ["yes", "no"]}, "comment": "row 2 is a no"}
    decided = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json=decision)
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"] == "override"
    # The caller's poll now has the answer.
    final = call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).json()
    assert final["status"] == "decided" and final["decision"] == "override"
    assert final["outputs"] == {"predict": ["yes", "no"]}
    assert final["decided_by"] == subject(keys["reviewer"])
    # Recorded as feedback: the reviewed label of each row, by the reviewer.
    feedback = httpx.get(f"{server.url}/feedback/{rid}", headers=server.auth_headers).json()["feedback"]
    assert [(r["row"], r["label"]) for r in feedback] == [(0, "yes"), (1, "no")]
    # Audited: the claim and the decision, by the reviewer.
    audit = call(server, "GET", "/api/audit", params={"resource": ticket.id}).json()
    actions = [(e["action"], e["actor"]) for e in audit["entries"]]
    assert ("review.claim", subject(keys["reviewer"])) in actions
    assert ("review.decide", subject(keys["reviewer"])) in actions
    assert ("review.open", subject(keys["predictor"])) in actions


def test_approve_without_a_claim_keeps_the_proposed_answer(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-approve", rows=3)
    decided = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["decision"] == "approve" and body["claimed_by"] == subject(keys["reviewer"])
    assert body["outputs"] == {"predict": ["yes"] * 3, "predict_proba": [[0.45, 0.55]] * 3}


def test_the_wait_is_measured_and_exported(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-metrics")
    call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json={"action": "approve"})

    def exported() -> bool:
        text = call(server, "GET", "/metrics").text
        return 'shipyard_review_wait_seconds_count{decision="approve",target="txt"}' in text

    wait_for(exported)
    text = call(server, "GET", "/metrics").text
    assert 'shipyard_review_tickets{status="decided"}' in text


# -- scopes ------------------------------------------------------------------------------


def test_a_predictor_polls_its_ticket_but_cannot_list_claim_or_decide(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-scope")
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).status_code == 200
    for method, path, body in (
        ("GET", "/reviews", None),
        ("POST", f"/reviews/{ticket.id}/claim", None),
        ("POST", f"/reviews/{ticket.id}/decision", {"action": "approve"}),
    ):
        refused = call(server, method, path, keys["predictor"], json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["code"] == "forbidden"
    # Another predictor may not read someone else's held prediction; nor may a viewer.
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["predictor2"]).status_code == 403
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["viewer"]).status_code == 403
    # Still pending: nothing the predictor did changed it.
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).json()["status"] == "pending"


def test_a_reviewer_of_other_models_cannot_touch_this_ticket(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-narrow")
    narrow = keys["reviewer_other"]  # reviewer over clf only; the ticket is on txt
    assert call(server, "GET", f"/reviews/{ticket.id}", narrow).status_code == 403
    assert call(server, "POST", f"/reviews/{ticket.id}/claim", narrow).status_code == 403
    decided = call(server, "POST", f"/reviews/{ticket.id}/decision", narrow, json={"action": "approve"})
    assert decided.status_code == 403
    listed = call(server, "GET", "/reviews", narrow).json()["tickets"]
    assert all(t["target"] == "clf" for t in listed)


def test_no_key_is_401(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/reviews", timeout=10)
    assert response.status_code == 401


# -- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("ticket", ["rv_" + "A" * 24, "rv_short", "nope", "rv_" + "!" * 24])
def test_an_unknown_ticket_is_404(server: LiveServer, keys: dict[str, str], ticket: str) -> None:
    for method, path, body in (
        ("GET", f"/reviews/{ticket}", None),
        ("POST", f"/reviews/{ticket}/claim", None),
        ("POST", f"/reviews/{ticket}/decision", {"action": "approve"}),
    ):
        response = call(server, method, path, keys["reviewer"], json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"action": "reject"}, "approve or override"),
        ({"action": 1}, "approve or override"),
        ({}, "approve or override"),
        ({"action": "approve", "verdict": "x"}, "unknown fields"),
        ({"action": "approve", "outputs": {"predict": ["no"]}}, "approve takes no outputs"),
        ({"action": "override"}, "override needs outputs"),
        ({"action": "override", "outputs": {"predict": ["a", "b"]}}, "1 value"),
        ({"action": "override", "outputs": {"predict": "no"}}, "1 value"),
        ({"action": "override", "outputs": {"score": ["no"]}}, "not one of the ticket's outputs"),
        ({"action": "override", "outputs": {"predict_proba": [[0.1, 0.9]]}}, "gives predict"),
        ({"action": "override", "outputs": []}, "object of output name"),
        ({"action": "override", "outputs": {}}, "mapping"),
        ({"action": "approve", "comment": 5}, "comment"),
        ({"action": "approve", "comment": "x" * 2001}, "2000"),
    ],
)
def test_a_bad_decision_is_400(server: LiveServer, keys: dict[str, str], body: dict[str, object], says: str) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-bad")
    response = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    assert set(response.json()) >= {"error", "code"}
    # Nothing changed.
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["reviewer"]).json()["status"] == "pending"


def test_a_body_that_is_not_a_json_object_is_400_or_415(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-body")
    path = f"/reviews/{ticket.id}/decision"
    for content in (b"not json", b"[1, 2]", b""):
        response = call(server, "POST", path, keys["reviewer"], content=content,
                        headers={"Content-Type": "application/json"})  # fmt: skip
        assert response.status_code == 400, response.text
    response = call(server, "POST", path, keys["reviewer"], content=b"action=approve",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 415, response.text


def test_deciding_twice_is_409(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-twice")
    path = f"/reviews/{ticket.id}/decision"
    assert call(server, "POST", path, keys["reviewer"], json={"action": "approve"}).status_code == 200
    for token in (keys["reviewer"], keys["reviewer2"]):
        again = call(server, "POST", path, token, json={"action": "override", "outputs": {"predict": ["no"]}})
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "conflict" and "already decided" in again.json()["error"]
        claim = call(server, "POST", f"/reviews/{ticket.id}/claim", token)
        assert claim.status_code == 409
    # The first decision stands.
    assert call(server, "GET", f"/reviews/{ticket.id}", keys["predictor"]).json()["outputs"]["predict"] == ["yes"]


def test_a_claim_by_another_reviewer_is_409(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-claimed")
    assert call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer"]).status_code == 200
    other = call(server, "POST", f"/reviews/{ticket.id}/claim", keys["reviewer2"])
    assert other.status_code == 409, other.text
    assert "claimed by" in other.json()["error"]
    decide = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer2"], json={"action": "approve"})
    assert decide.status_code == 409
    # The claimer still decides.
    mine = call(server, "POST", f"/reviews/{ticket.id}/decision", keys["reviewer"], json={"action": "approve"})
    assert mine.status_code == 200


@pytest.mark.parametrize(
    "params",
    [{"status": "nope"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"target": "../x"}, {"order": "asc"}],
)
def test_a_bad_list_query_is_400(server: LiveServer, keys: dict[str, str], params: dict[str, str]) -> None:
    response = call(server, "GET", "/reviews", keys["reviewer"], params=params)
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"error", "code"}
