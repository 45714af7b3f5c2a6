"""``POST /feedback`` and ``GET /feedback/{request_id}`` against a real server, on SQLite and
PostgreSQL: labels, values, outcomes and attributes joined to logged predictions by request
id or by the caller's key; duplicates, conflicts, unknown ids and every kind of bad input."""

from __future__ import annotations

import httpx
import pytest

from live_server import LiveServer
from prediction_homes import key_for, post, predict


def test_a_label_is_recorded_once_and_read_back(server: LiveServer) -> None:
    rid, _ = predict(server, "clf", seed=1)
    first = post(server, {"request_id": rid, "label": 1})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert (body["request_id"], body["row"], body["target"], body["model"], body["version"]) == (
        rid,
        0,
        "clf",
        "clf",
        1,
    )
    assert body["label"] == 1
    # The same again: idempotent, 200, nothing new.
    again = post(server, {"request_id": rid, "label": 1})
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    # An integral float is the same integer label.
    assert post(server, {"request_id": rid, "label": 1.0}).status_code == 200
    # Another label: 409, and the first stays.
    conflict = post(server, {"request_id": rid, "label": 0})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["code"] == "conflict"
    shown = httpx.get(f"{server.url}/feedback/{rid}", headers=server.auth_headers).json()
    assert shown["request_id"] == rid
    assert [(r["row"], r["label"], r["model"], r["version"]) for r in shown["feedback"]] == [(0, 1, "clf", 1)]


def test_outcomes_and_attributes_arrive_later_and_merge(server: LiveServer) -> None:
    rid, _ = predict(server, "clf", rows=3, seed=2)
    assert post(server, {"request_id": rid, "row": 2, "outcomes": {"revenue": 12.5}}).status_code == 201
    later = post(server, {"request_id": rid, "row": 2, "label": 0, "attributes": {"group": "a", "age": 41}})
    assert later.status_code == 201, later.text
    merged = later.json()
    assert merged["outcomes"] == {"revenue": 12.5}
    assert merged["attributes"] == {"age": 41, "group": "a"}
    assert merged["label"] == 0
    # A new outcome beside an old one: created; the old one with another value: 409.
    assert post(server, {"request_id": rid, "row": 2, "outcomes": {"conversion": 1}}).status_code == 201
    clash = post(server, {"request_id": rid, "row": 2, "outcomes": {"revenue": 13, "rating": 4}})
    assert clash.status_code == 409
    # Nothing of a refused feedback is stored (rating was new, but came with a conflict).
    rows = httpx.get(f"{server.url}/feedback/{rid}", headers=server.auth_headers).json()["feedback"]
    assert rows[0]["outcomes"] == {"conversion": 1.0, "revenue": 12.5}
    assert rows[0]["row"] == 2


def test_string_labels_and_regression_values(server: LiveServer) -> None:
    rid, _ = predict(server, "txt", seed=3)
    assert post(server, {"request_id": rid, "label": "yes"}).status_code == 201
    wrong = post(server, {"request_id": rid, "label": 1})
    assert wrong.status_code == 400
    assert "must be a string" in wrong.json()["error"]
    rid, _ = predict(server, "reg", seed=4)
    assert post(server, {"request_id": rid, "value": 3.25}).status_code == 201
    assert post(server, {"request_id": rid, "value": 3.25}).status_code == 200
    assert post(server, {"request_id": rid, "value": 3.5}).status_code == 409
    # A label of a regression must be a number (a string is the wrong type).
    assert post(server, {"request_id": rid, "label": "high"}).status_code == 400


def test_unknown_request_ids_are_404(server: LiveServer) -> None:
    response = post(server, {"request_id": "no-such-request", "label": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert httpx.get(f"{server.url}/feedback/no-such-request", headers=server.auth_headers).status_code == 404
    assert post(server, {"key": "never-sent", "label": 1}).status_code == 404


def test_feedback_by_the_callers_own_key(server: LiveServer) -> None:
    rid, _ = predict(server, "clf", key="order-17", seed=5)
    response = post(server, {"key": "order-17", "label": 0, "outcomes": {"revenue": 3}})
    assert response.status_code == 201, response.text
    assert response.json()["request_id"] == rid
    # The latest prediction with the key wins.
    newer, _ = predict(server, "clf", key="order-17", seed=6)
    # "Latest" is the latest logged: in batch mode a record reaches the log a flush or so after
    # its answer. Feedback by request id waits for it (a miss is looked up again).
    assert post(server, {"request_id": newer, "outcomes": {"revenue": 4}}).status_code == 201
    assert post(server, {"key": "order-17", "label": 1}).json()["request_id"] == newer
    # Another caller's key is not this caller's: 404.
    other = key_for(server, "predictor")
    assert post(server, {"key": "order-17", "label": 1}, token=other).status_code == 404


BAD_BODIES = [
    pytest.param({"request_id": "{rid}", "label": "one"}, "must be an integer", id="label-wrong-type"),
    pytest.param({"request_id": "{rid}", "label": True}, "must be an integer", id="label-bool-for-int"),
    pytest.param({"request_id": "{rid}", "label": [1]}, "label", id="label-list"),
    pytest.param({"request_id": "{rid}", "value": "3.2"}, "must be a number", id="value-string"),
    pytest.param({"request_id": "{rid}", "value": True}, "must be a number", id="value-bool"),
    pytest.param({"request_id": "{rid}", "outcomes": {"revenue": "12"}}, "must be a number", id="outcome-string"),
    pytest.param({"request_id": "{rid}", "outcomes": [1]}, "objects", id="outcomes-not-object"),
    pytest.param({"request_id": "{rid}", "outcomes": {"9bad": 1}}, "name", id="outcome-bad-name"),
    pytest.param({"request_id": "{rid}", "attributes": {"group": [1]}}, "string, number or boolean", id="attr-list"),
    pytest.param({"request_id": "{rid}", "attributes": {"g": "x" * 300}}, "longer", id="attr-too-long"),
    pytest.param({"request_id": "{rid}", "label": 1, "colour": "red"}, "unknown fields", id="unknown-field"),
    pytest.param({"request_id": "{rid}", "key": "k", "label": 1}, "one of them", id="both-id-and-key"),
    pytest.param({"label": 1}, "one of them", id="neither-id-nor-key"),
    pytest.param({"request_id": "{rid}"}, "needs a", id="nothing-said"),
    pytest.param({"request_id": "{rid}", "row": 5, "label": 1}, "row", id="row-out-of-range"),
    pytest.param({"request_id": "{rid}", "row": -1, "label": 1}, "row", id="row-negative"),
    pytest.param({"request_id": "{rid}", "row": "0", "label": 1}, "row", id="row-string"),
    pytest.param({"request_id": "", "label": 1}, "request id", id="empty-request-id"),
    pytest.param({"request_id": "a b", "label": 1}, "request id", id="request-id-with-space"),
    pytest.param({"request_id": 7, "label": 1}, "request id", id="request-id-number"),
    pytest.param({"items": []}, "1 to 1000", id="empty-batch"),
    pytest.param({"items": [{"request_id": "{rid}", "label": 1}] * 1001}, "1 to 1000", id="batch-too-long"),
    pytest.param({"items": [{"request_id": "{rid}", "label": 1}], "x": 1}, "only", id="batch-extra-field"),
    pytest.param({"items": ["nope"]}, "must be an object", id="batch-item-not-object"),
    pytest.param([1, 2], "object", id="not-an-object"),
]


@pytest.mark.parametrize(("template", "message"), BAD_BODIES)
def test_bad_feedback_is_400(server: LiveServer, template: object, message: str) -> None:
    rid, _ = predict(server, "clf", seed=7)
    body = _fill(template, rid)
    response = post(server, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("invalid_request", "malformed_request")
    assert message in response.json()["error"], response.json()
    # Nothing was stored.
    assert httpx.get(f"{server.url}/feedback/{rid}", headers=server.auth_headers).json()["feedback"] == []


def test_malformed_json_and_media_type(server: LiveServer) -> None:
    response = post(server, b"{not json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
    wrong_type = httpx.post(
        f"{server.url}/feedback", content=b"label=1", headers={**server.auth_headers, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    too_big = post(server, b'{"items": [' + b"1," * (1024 * 1024) + b"1]}")
    assert too_big.status_code == 413


def test_a_batch_gives_each_item_its_status(server: LiveServer) -> None:
    rid1, _ = predict(server, "clf", seed=8)
    rid2, _ = predict(server, "reg", seed=9)
    assert post(server, {"request_id": rid1, "label": 1}).status_code == 201
    items = [
        {"request_id": rid1, "label": 1},  # 200: already there
        {"request_id": rid1, "label": 0},  # 409
        {"request_id": rid2, "value": 1.5},  # 201
        {"request_id": "missing-id", "value": 1.5},  # 404
        {"request_id": rid2, "label": "x"},  # 400: a regression's label is a number
    ]
    response = post(server, {"items": items})
    assert response.status_code == 201, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == [200, 409, 201, 404, 400]
    assert (body["created"], body["existing"], body["failed"]) == (1, 1, 3)
    again = post(server, {"items": items[:1]})
    assert again.status_code == 200
    assert again.json()["created"] == 0


def test_the_feedback_scope_is_checked_on_the_predictions_target(server: LiveServer) -> None:
    rid, _ = predict(server, "clf", seed=10)
    narrow = key_for(server, "predictor", ("txt",))
    response = post(server, {"request_id": rid, "label": 1}, token=narrow)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert httpx.get(f"{server.url}/feedback/{rid}", headers={"Authorization": f"Bearer {narrow}"}).status_code == 403
    viewer = key_for(server, "viewer")
    assert post(server, {"request_id": rid, "label": 1}, token=viewer).status_code == 403
    predictor = key_for(server, "predictor", ("clf",))
    assert post(server, {"request_id": rid, "label": 1}, token=predictor).status_code == 201
    assert httpx.post(f"{server.url}/feedback", json={"request_id": rid, "label": 1}).status_code == 401


def test_a_failed_request_has_no_prediction_to_label(server: LiveServer) -> None:
    bad = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.2]}]}
    response = httpx.post(f"{server.url}/v2/models/clf/infer", json=bad, headers=server.auth_headers)
    assert response.status_code == 400
    rid = response.headers["x-request-id"]
    refused = post(server, {"request_id": rid, "label": 1})
    assert refused.status_code == 404
    assert "failed (status 400)" in refused.json()["error"]


def _fill(template: object, rid: str) -> object:
    if isinstance(template, dict):
        return {k: _fill(v, rid) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, rid) for v in template]
    if template == "{rid}":
        return rid
    return template


def test_the_sdk_client(server: LiveServer) -> None:
    from shipyard.errors import RemoteError
    from shipyard.sdk.client import Client

    rid, _ = predict(server, "clf", rows=2, seed=12, key="sdk-1")
    with Client(server.url, api_key=server.api_key) as client:
        first = client.feedback(rid, row=1, label=1, outcomes={"revenue": 4.5}, attributes={"group": "c"})
        assert (first["created"], first["row"], first["label"], first["outcomes"]) == (True, 1, 1, {"revenue": 4.5})
        by_key = client.feedback(key="sdk-1", value=2.0)
        assert (by_key["request_id"], by_key["row"], by_key["value"]) == (rid, 0, 2.0)
        batch = client.feedback_batch([{"request_id": rid, "row": 1, "label": 1}, {"request_id": "nope", "label": 1}])
        assert [r["status"] for r in batch["results"]] == [200, 404]
        shown = client.get_feedback(rid)
        assert [(r["row"], r["label"], r["value"]) for r in shown["feedback"]] == [(0, None, 2.0), (1, 1, None)]
        with pytest.raises(RemoteError) as conflict:
            client.feedback(rid, row=1, label=0)
        assert (conflict.value.status, conflict.value.remote_code) == (409, "conflict")
