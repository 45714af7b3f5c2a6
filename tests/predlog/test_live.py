"""The prediction log in a real server: what a record holds, the caller's key header (and its
bad values), failures, sampling, ``off``, and the log-health metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from predlog_support import read_records, segment_files, torn_files, v2_body

from live_server import LiveServer

OPEN = {"open_inference": "*"}


def _wait_for(home: Path, n: int, timeout: float = 5.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        records = read_records(home)
        if len(records) >= n or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def test_a_record_holds_the_request_its_inputs_outputs_and_key(lr_home: Path) -> None:
    with LiveServer(lr_home, ["lr"], settings={**OPEN, "log_flush_ms": "10"}) as server, server.client() as client:
        body = v2_body([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], extra={"parameters": {"secret": "do-not-log"}})
        r = client.post(
            "/v2/models/lr/infer", json=body, headers={"X-Prediction-Key": "order-42", "X-Request-Id": "rq-1"}
        )
        assert r.status_code == 200, r.text
        r2 = client.post("/v2/models/lr/infer", json=v2_body([[0.1, 0.2, 0.3]], per_column=False))
        assert r2.status_code == 200, r2.text
        records = _wait_for(lr_home, 2)
    first = next(rec for rec in records if rec["request_id"] == "rq-1")
    assert first["key"] == "order-42" and first["target"] == "lr" and first["model"] == "lr"
    assert first["version"] == 1 and first["protocol"] == "v2" and first["status"] == 200
    assert first["caller"].startswith("key:") and first["rows"] == 2
    assert first["inputs"] == {"a": [1.0, 0.0], "b": [2.0, -1.0], "c": [3.0, 0.5]}
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert first["outputs"]["predict"] == outputs["predict"]
    flat = [p for pair in first["outputs"]["predict_proba"] for p in pair]
    assert flat == pytest.approx(outputs["predict_proba"])
    assert "do-not-log" not in str(records)
    second = next(rec for rec in records if rec["request_id"] != "rq-1")
    assert second["key"] is None and second["inputs"] == {"a": [0.1], "b": [0.2], "c": [0.3]}
    # A clean shutdown seals the segment.
    assert all(p.suffix == ".seg" for p in segment_files(lr_home)) and torn_files(lr_home) == []


BAD_KEYS = ["", "x" * 129, "has space", "slash/es", "semi;colon", 'quote"d', "tab\tbed", "caf\u00e9"]


def test_a_bad_prediction_key_is_refused_with_400(lr_home: Path) -> None:
    with LiveServer(lr_home, ["lr"], settings=OPEN) as server, server.client() as client:
        for key in BAD_KEYS:
            headers = [("X-Prediction-Key", key.encode("latin-1"))]
            r = client.post("/v2/models/lr/infer", json=v2_body([[1, 2, 3]]), headers=headers)
            assert r.status_code == 400, (key, r.text)
            assert r.json()["code"] == "invalid_request"
            assert "X-Prediction-Key" in r.json()["error"] and "128" in r.json()["error"]
        # The longest good key and every allowed character pass.
        for good in ("k" * 128, "Az09._:-"):
            ok = client.post("/v2/models/lr/infer", json=v2_body([[1, 2, 3]]), headers={"X-Prediction-Key": good})
            assert ok.status_code == 200, ok.text
        records = _wait_for(lr_home, 2)
    # Refused requests are not inferences: only the two good ones are logged.
    assert sorted(r["key"] for r in records) == sorted(["k" * 128, "Az09._:-"])


def test_the_key_header_works_on_every_protocol(lr_home: Path) -> None:
    with LiveServer(lr_home, ["lr"], settings=OPEN) as server, server.client() as client:
        split = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3]]}}
        mlflow = client.post("/models/lr/invocations", json=split, headers={"X-Prediction-Key": "m1"})
        assert mlflow.status_code == 200, mlflow.text
        v1 = client.post("/v1/models/lr:predict", json={"instances": [[1, 2, 3]]}, headers={"X-Prediction-Key": "v1k"})
        assert v1.status_code == 200, v1.text
        bad = client.post("/v1/models/lr:predict", json={"instances": [[1, 2, 3]]}, headers={"X-Prediction-Key": "a b"})
        assert bad.status_code == 400
        records = _wait_for(lr_home, 2)
    assert {(r["key"], r["protocol"]) for r in records} == {("m1", "mlflow"), ("v1k", "v1")}


def test_failures_are_logged_with_status_and_code_but_no_inputs(lr_home: Path) -> None:
    with LiveServer(lr_home, ["lr"], settings=OPEN) as server, server.client() as client:
        bad = {"inputs": [{"name": "zz", "datatype": "FP64", "shape": [1], "data": [1.0]}]}
        r = client.post("/v2/models/lr/infer", json=bad, headers={"X-Request-Id": "bad-1", "X-Prediction-Key": "k9"})
        assert r.status_code == 400
        records = _wait_for(lr_home, 1)
    (rec,) = [x for x in records if x["request_id"] == "bad-1"]
    assert rec["status"] == 400 and rec["code"] == "signature_mismatch" and rec["key"] == "k9"
    assert rec["inputs"] is None and rec["outputs"] is None


def test_sampling_and_metrics(lr_home: Path) -> None:
    settings = {**OPEN, "log_sample": "lr=0", "log_flush_ms": "5"}
    with LiveServer(lr_home, ["lr"], settings=settings) as server, server.client() as client:
        for _ in range(5):
            assert client.post("/v2/models/lr/infer", json=v2_body([[1, 2, 3]])).status_code == 200
        metrics = client.get("/metrics").text
    assert 'shipyard_predlog_records_total{outcome="sampled_out"} 5.0' in metrics
    assert 'shipyard_predlog_records_total{outcome="written"} 0.0' in metrics
    assert "shipyard_predlog_queue_bytes" in metrics and "shipyard_predlog_lag_seconds" in metrics
    assert read_records(lr_home) == []


def test_off_writes_nothing(lr_home: Path) -> None:
    with LiveServer(lr_home, ["lr"], settings={**OPEN, "log_mode": "off"}) as server, server.client() as client:
        assert client.post("/v2/models/lr/infer", json=v2_body([[1, 2, 3]])).status_code == 200
        assert "shipyard_predlog_records_total{" not in client.get("/metrics").text
    assert not (lr_home / "predlog").exists()


def test_a_bad_sample_setting_stops_the_server_with_a_clear_message(lr_home: Path) -> None:
    server = LiveServer(lr_home, ["lr"], settings={**OPEN, "log_sample": "lr=2"}, ready_timeout=30)
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        server.start()
    server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/v2/health/live", timeout=0.5)


def test_two_workers_write_their_own_segments_and_lose_nothing(lr_home: Path) -> None:
    with (
        LiveServer(lr_home, ["lr"], settings=OPEN, env={"SHIPYARD_WORKERS": "2"}) as server,
        server.client() as client,
    ):
        for i in range(40):
            r = client.post("/v2/models/lr/infer", json=v2_body([[i, 0, 1]]), headers={"X-Request-Id": f"w-{i}"})
            assert r.status_code == 200, r.text
        _wait_for(lr_home, 40)
        metrics = client.get("/metrics").text
    # Summed over both workers (prometheus multiprocess mode).
    assert 'shipyard_predlog_records_total{outcome="written"} 40.0' in metrics, [
        line for line in metrics.splitlines() if "predlog_records" in line
    ]
    assert sorted(r["request_id"] for r in read_records(lr_home)) == sorted(f"w-{i}" for i in range(40))
    assert torn_files(lr_home) == [] and all(p.suffix == ".seg" for p in segment_files(lr_home))


def test_a_deployment_call_is_logged_under_the_deployment(lr_home: Path) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from homes import open_home
    from shipyard.rollout.service import apply_spec

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    svc = open_home(lr_home)
    try:
        svc.registry.register(
            "lr", LogisticRegression(C=0.1).fit(frame, frame["a"] > 0), sample=frame.iloc[:3], compile=False
        )
        spec = (
            "deployment: dep\nvariants:\n  stable: {model: lr/1, role: primary}\n"
            "  canary: {model: lr/2, role: canary, weight: 50}\n"
        )
        apply_spec(svc.store, spec, actor="user:test", reason="test", source_name="dep.yaml")
    finally:
        svc.close()
    with LiveServer(lr_home, ["dep"], settings=OPEN) as server, server.client() as client:
        for i in range(20):
            r = client.post("/v2/models/dep/infer", json=v2_body([[i, 1, 2]]), headers={"X-Request-Id": f"d-{i}"})
            assert r.status_code == 200, r.text
        records = _wait_for(lr_home, 20)
    assert len(records) == 20
    assert {r["target"] for r in records} == {"dep"} and {r["deployment"] for r in records} == {"dep"}
    assert {r["model"] for r in records} == {"lr"}
    assert {(r["variant"], r["version"]) for r in records} == {("stable", 1), ("canary", 2)}
    assert {r["revision"] for r in records} == {1}
