"""Record payloads: the plan's fields, only declared inputs, every value form made JSON."""

from __future__ import annotations

import time

import numpy as np

from shipyard.monitoring.predlog.record import FIELDS, approx_bytes, decode_record, encode_record
from shipyard.schema.batch import Batch
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.serving.events import InferenceFailure, InferenceRecord


def _record(batch: Batch, outputs: dict[str, np.ndarray]) -> InferenceRecord:
    return InferenceRecord(
        request_id="r1",
        model="m",
        version=3,
        protocol="mlflow",
        caller="key:abc",
        rows=batch.n_rows,
        started_at=1_700_000_000.5,
        duration_seconds=0.0125,
        compute_seconds=0.01,
        batch=batch,
        outputs=outputs,
        deployment="dep",
        variant="canary",
        revision=2,
        key="k-1",
    )


def test_fields_are_exactly_the_plans() -> None:
    sig = Signature("columns", (FieldSpec("a", "float64"),))
    rec = decode_record(encode_record(_record(Batch(sig, matrix=np.ones((1, 1))), {"predict": np.array([0])})))
    assert tuple(rec) == FIELDS
    assert rec["target"] == "dep" and rec["model"] == "m" and rec["version"] == 3 and rec["revision"] == 2
    assert rec["latency_ms"] == 12.5 and rec["time"] == 1_700_000_000.5 and rec["protocol"] == "mlflow"


def test_mixed_columns_strings_nan_and_bytes() -> None:
    sig = Signature(
        "columns",
        (
            FieldSpec("n", "float64", nullable=True),
            FieldSpec("s", "string"),
            FieldSpec("i", "int64"),
            FieldSpec("b", "bytes"),
        ),
    )
    batch = Batch(
        sig,
        columns={
            "n": np.array([1.5, np.nan]),
            "s": np.array(["x", "é"], dtype=object),
            "i": np.array([1, 2]),
            "b": np.array([b"\x00\x01", b"ok"], dtype=object),
        },
    )
    rec = decode_record(encode_record(_record(batch, {"predict": np.array(["yes", "no"], dtype=object)})))
    assert rec["inputs"] == {"n": [1.5, None], "s": ["x", "é"], "i": [1, 2], "b": ["AAE=", "b2s="]}
    assert rec["outputs"] == {"predict": ["yes", "no"]}


def test_large_matrix_and_float32_round_trip_in_row_order() -> None:
    sig = Signature("columns", (FieldSpec("a", "float32"), FieldSpec("b", "float32")))
    matrix = np.arange(200, dtype="f4").reshape(100, 2)
    rec = decode_record(encode_record(_record(Batch(sig, matrix=matrix), {"p": np.arange(100)})))
    assert rec["inputs"] == {"a": matrix[:, 0].tolist(), "b": matrix[:, 1].tolist()}
    assert rec["rows"] == 100 and rec["outputs"]["p"] == list(range(100))


def test_tensor_signature_logs_declared_tensors() -> None:
    sig = Signature("tensors", (FieldSpec("img", "uint8", shape=(-1, 2, 2)),))
    batch = Batch(sig, tensors={"img": np.arange(8, dtype="u1").reshape(2, 2, 2)})
    rec = decode_record(encode_record(_record(batch, {"y": np.zeros((2, 3), dtype="f4")})))
    assert rec["inputs"] == {"img": [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]}
    assert rec["outputs"] == {"y": [[0.0] * 3] * 2}


def test_a_failure_has_no_inputs_or_outputs() -> None:
    failure = InferenceFailure("r2", "_unknown", None, "v2", "model_not_found", 0.001, 404, started_at=time.time())
    rec = decode_record(encode_record(failure))
    assert tuple(rec) == FIELDS
    assert (rec["status"], rec["code"], rec["inputs"], rec["outputs"], rec["rows"]) == (
        404,
        "model_not_found",
        None,
        None,
        0,
    )
    assert approx_bytes(failure) > 0


def test_approx_bytes_grows_with_rows() -> None:
    sig = Signature("columns", (FieldSpec("a", "float64"), FieldSpec("s", "string")))
    small = _record(Batch(sig, columns={"a": np.ones(1), "s": np.array(["x"], dtype=object)}), {})
    big = _record(Batch(sig, columns={"a": np.ones(1000), "s": np.array(["x"] * 1000, dtype=object)}), {})
    assert approx_bytes(big) - approx_bytes(small) == 999 * (8 + 64)
