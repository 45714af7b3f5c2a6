"""Bare ``NaN`` / ``Infinity`` / ``-Infinity`` in V2 JSON (tritonclient's JSON mode writes
them): read as floats, then the signature decides, as for binary data."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch
from shipyard.protocol import mlflow, v1, v2
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

SIGNATURE = Signature("columns", (FieldSpec("x", "float64", nullable=True), FieldSpec("y", "float32")))


def _body(x: str, y: str, datatype: str = "FP64") -> bytes:
    return (
        f'{{"inputs": [{{"name": "x", "datatype": "FP64", "shape": [2], "data": [{x}]}},'
        f'{{"name": "y", "datatype": "{datatype}", "shape": [2], "data": [{y}]}}]}}'
    ).encode()


def _validate(body: bytes) -> dict[str, list[float]]:
    request = v2.decode_infer_request(body, content_type=None, header_length=None, signature=SIGNATURE, max_rows=10)
    batch = validate_inputs(SIGNATURE, request.inputs, max_rows=10)
    return {name: batch.column(name).tolist() for name in SIGNATURE.input_names}


def test_nan_token_passes_a_nullable_column() -> None:
    values = _validate(_body("NaN, 1.5", "2, 3"))
    assert math.isnan(values["x"][0]) and values["x"][1] == 1.5 and values["y"] == [2.0, 3.0]


def test_nan_token_refused_by_a_column_that_is_not_nullable() -> None:
    with pytest.raises(SignatureMismatch, match="column 'y': NaN or null is not allowed"):
        _validate(_body("1, 2", "NaN, 3"))


@pytest.mark.parametrize("token", ["Infinity", "-Infinity"])
def test_infinity_tokens_are_refused_everywhere(token: str) -> None:
    with pytest.raises(SignatureMismatch, match="column 'x': infinite"):
        _validate(_body(f"{token}, 1", "2, 3"))


def test_nan_token_in_an_integer_tensor_is_a_float_there() -> None:
    with pytest.raises(MalformedRequest, match="datatype INT64 but data holds float"):
        _validate(_body("1, 2", "NaN, 3", datatype="INT64"))


def test_a_body_broken_otherwise_stays_broken() -> None:
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        _validate(_body("NaN, 1", "2, 3")[:-1])
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        _validate(_body("nan, 1", "2, 3"))


def test_other_protocols_keep_strict_json() -> None:
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        v1.decode_v1_request(b'{"instances": [[NaN, 1]]}')
    with pytest.raises(MalformedRequest, match="not valid JSON"):
        mlflow.decode_mlflow_request(b'{"instances": [[NaN, 1]]}', content_type="application/json")
