"""Output sanity checks: finite values and known labels over HTTP (a Python-class model whose
answers the inputs pick), and the probability-sum rule on the check itself."""

from __future__ import annotations

import httpx
import numpy as np

from live_server import LiveServer
from shipyard.sdk.payloads import v2_request
from shipyard.serving.guardrails import check_outputs

FLAGS = "x-shipyard-flags"


def echo(server: LiveServer, rows: list[list[float]]) -> httpx.Response:
    with server.client() as client:
        return client.post("/v2/models/echo/infer", json=v2_request(rows))


def test_known_labels_pass(server: LiveServer) -> None:
    response = echo(server, [[1.0, 0.0], [0.0, 1.0]])
    assert response.status_code == 200, response.text
    assert FLAGS not in response.headers


def test_an_unknown_label_is_flagged(server: LiveServer) -> None:
    # The answer 5 is no label of the training target ("0", "1"); the input is out of range too.
    response = echo(server, [[5.0, 0.0]])
    assert response.status_code == 200, response.text
    assert response.headers[FLAGS].split(",") == ["input_range:x0", "ood", "output_unknown_label"]


def test_a_non_finite_answer_is_flagged(server: LiveServer) -> None:
    response = echo(server, [[999.0, 0.0]])
    assert response.status_code == 200, response.text
    flags = response.headers[FLAGS].split(",")
    assert "output_nonfinite" in flags
    assert "output_unknown_label" not in flags


def test_output_flags_are_counted(server: LiveServer) -> None:
    echo(server, [[999.0, 0.0]])
    with server.client() as client:
        text = client.get("/metrics").text
    assert 'shipyard_guardrail_flags_total{kind="output_nonfinite",model="echo"}' in text


def test_probabilities_must_sum_to_one() -> None:
    good = {"predict_proba": np.array([[0.2, 0.8], [0.5, 0.5]]), "predict": np.array([1, 0])}
    assert check_outputs(good, frozenset({"0", "1"})) == ()
    off = {"predict_proba": np.array([[0.2, 0.7], [0.5, 0.5]])}
    assert check_outputs(off, None) == ("output_proba_sum",)
    within = {"predict_proba": np.array([[0.2, 0.8 + 1e-7]])}
    assert check_outputs(within, None) == ()
    nan = {"predict_proba": np.array([[np.nan, 1.0]])}
    assert check_outputs(nan, None) == ("output_nonfinite", "output_proba_sum")


def test_labels_compare_across_number_forms() -> None:
    assert check_outputs({"predict": np.array([1.0, 0.0])}, frozenset({"0", "1"})) == ()
    assert check_outputs({"predict": np.array(["yes", "maybe"], dtype=object)}, frozenset({"yes", "no"})) == (
        "output_unknown_label",
    )
