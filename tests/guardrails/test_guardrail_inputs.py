"""Input guardrails against the served version's reference profile, over HTTP: out of range,
an unseen category, OOD; flag (the default), reject (422) and off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from live_server import LiveServer
from shipyard.sdk.payloads import v2_request

FLAGS = "x-shipyard-flags"


def row(age: float = 40.0, income: float = 50_000.0, plan: str = "basic") -> dict[str, list[Any]]:
    return {"age": [age], "income": [income], "plan": [plan]}


def v2(server: LiveServer, model: str, columns: dict[str, list[Any]], **headers: str) -> httpx.Response:
    with server.client() as client:
        return client.post(f"/v2/models/{model}/infer", json=v2_request(columns), headers=headers)


def test_an_ordinary_row_raises_no_flag(server: LiveServer) -> None:
    response = v2(server, "churn", row())
    assert response.status_code == 200, response.text
    assert FLAGS not in response.headers


def test_out_of_range_is_flagged_by_default(server: LiveServer) -> None:
    response = v2(server, "churn", row(age=150.0))
    assert response.status_code == 200, response.text
    assert "input_range:age" in response.headers[FLAGS].split(",")
    below = v2(server, "churn", row(age=3.0))
    assert "input_range:age" in below.headers[FLAGS].split(",")


def test_an_unseen_category_is_flagged(server: LiveServer) -> None:
    response = v2(server, "churn", row(plan="platinum"))
    assert response.status_code == 200, response.text
    assert response.headers[FLAGS].split(",") == ["unseen_category:plan"]


def test_ood_distance_is_flagged_within_range(server: LiveServer, facts: dict[str, Any]) -> None:
    low, high = facts["income"]
    inside_but_far = high - (high - low) * 0.02
    response = v2(server, "churn_ood", row(income=inside_but_far))
    assert response.status_code == 200, response.text
    assert response.headers[FLAGS].split(",") == ["ood"]
    # The default threshold (6 standard units) lets the same row through.
    assert FLAGS not in v2(server, "churn", row(income=inside_but_far)).headers


def test_many_rows_flag_once_per_kind(server: LiveServer) -> None:
    columns = {"age": [40.0, 150.0, 400.0], "income": [50_000.0] * 3, "plan": ["basic", "gold", "silver"]}
    response = v2(server, "churn", columns)
    assert response.status_code == 200, response.text
    assert response.headers[FLAGS].split(",") == ["input_range:age", "unseen_category:plan", "ood"]
    assert len(response.json()["outputs"][0]["data"]) == 3


def test_reject_mode_answers_422_naming_the_column_not_the_value(server: LiveServer) -> None:
    response = v2(server, "churn_reject", row(age=123456.0))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "guardrail_rejected"
    assert "'age'" in body["error"] and "row 0" in body["error"]
    assert "123456" not in response.text
    unseen = v2(server, "churn_reject", row(plan="zzcanaryzz"))
    assert unseen.status_code == 422
    assert "'plan'" in unseen.json()["error"]
    assert "zzcanaryzz" not in unseen.text
    assert v2(server, "churn_reject", row()).status_code == 200


@pytest.mark.parametrize("protocol", ["v1", "mlflow"])
def test_reject_in_the_other_protocols(server: LiveServer, protocol: str) -> None:
    with server.client() as client:
        if protocol == "v1":
            response = client.post(
                "/v1/models/churn_reject:predict", json={"instances": [{"age": 40.0, "income": 5e6, "plan": "basic"}]}
            )
        else:
            response = client.post(
                "/models/churn_reject/invocations",
                json={"dataframe_split": {"columns": ["age", "income", "plan"], "data": [[40.0, 5e6, "basic"]]}},
            )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "guardrail_rejected"
    assert "'income'" in response.json()["error"]


def test_off_mode_checks_nothing(server: LiveServer) -> None:
    response = v2(server, "churn_off", row(age=150.0, plan="platinum"))
    assert response.status_code == 200, response.text
    assert FLAGS not in response.headers


def test_a_model_without_a_profile_is_not_checked(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/v2/models/boom_bare/infer", json=v2_request([[-1e9, -5.0]]))
    assert response.status_code == 200, response.text
    assert FLAGS not in response.headers


def test_flags_are_counted_in_the_metrics(server: LiveServer) -> None:
    v2(server, "churn", row(age=150.0))
    with server.client() as client:
        v2(server, "churn_reject", row(age=150.0))
        text = client.get("/metrics").text
    assert 'shipyard_guardrail_flags_total{kind="input_range",model="churn"}' in text
    assert 'shipyard_guardrail_flags_total{kind="rejected",model="churn_reject"}' in text


def test_a_deployment_follows_its_own_controls(server: LiveServer) -> None:
    # churndep's only variant is churn/1, whose own target (churn) only flags.
    refused = v2(server, "churndep", row(age=150.0))
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "guardrail_rejected"
    ok = v2(server, "churndep", row())
    assert ok.status_code == 200, ok.text
    assert ok.headers["x-shipyard-variant"] == "main"
    assert v2(server, "churn", row(age=150.0)).status_code == 200
