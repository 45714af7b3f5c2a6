"""What the prediction log records of governed requests: the guardrail flags, the fallback
that answered, the review ticket (read back with ``shipyard logs explain``)."""

from __future__ import annotations

import json
import time
from typing import Any

from click.testing import CliRunner

from live_server import LiveServer
from shipyard.cli.main import cli
from shipyard.sdk.payloads import v2_request


def explained(server: LiveServer, rid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        result = CliRunner().invoke(cli, ["--home", str(server.home), "logs", "explain", rid, "--json"])
        if result.exit_code == 0:
            prediction: dict[str, Any] = json.loads(result.output)["prediction"]
            return prediction
        assert time.monotonic() < deadline, result.output
        time.sleep(0.3)


def test_flags_fallback_and_ticket_are_logged(server: LiveServer) -> None:
    with server.client() as client:
        flagged = client.post(
            "/v2/models/churn/infer", json=v2_request({"age": [150.0], "income": [5e4], "plan": ["basic"]})
        )
        failed_over = client.post("/v2/models/boom/infer", json=v2_request([[1.0, 2.0]]))
        held = client.post(
            "/v2/models/churn_review/infer", json=v2_request({"age": [70.0], "income": [5e4], "plan": ["basic"]})
        )
    assert (flagged.status_code, failed_over.status_code, held.status_code) == (200, 200, 202)
    record = explained(server, flagged.headers["x-request-id"])
    assert record["flags"] == "input_range:age"
    record = explained(server, failed_over.headers["x-request-id"])
    assert record["fallback"] == "answer"
    assert record["flags"] == "fallback:model_error"
    assert record["outputs"]["predict"] == [-1]
    record = explained(server, held.headers["x-request-id"])
    assert record["ticket"] == held.json()["ticket"]
    assert record["flags"] == "review:classes"
    assert record["outputs"]["predict"] == [1]
