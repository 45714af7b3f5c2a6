from __future__ import annotations

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch, UnsupportedMediaType
from shipyard.protocol.mlflow import decode_mlflow_request, encode_mlflow_response
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

JSON = "application/json"


def test_dataframe_split_is_reordered_to_the_signature(float_signature: Signature) -> None:
    body = b'{"dataframe_split": {"columns": ["x2", "x0", "x1"], "data": [[3, 1, 2], [6, 4, 5]], "index": [0, 1]}}'
    raw = decode_mlflow_request(body, content_type=JSON)
    assert raw.items[0].column_names == ("x2", "x0", "x1")
    batch = validate_inputs(float_signature, raw, max_rows=8)
    assert batch.as_matrix().tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_dataframe_split_with_mixed_types(mixed_signature: Signature) -> None:
    body = (
        b'{"dataframe_split": {"columns": ["city", "age", "member"],'
        b' "data": [["Oslo", 30, true], ["Lima", null, false]]}}'
    )
    batch = validate_inputs(mixed_signature, decode_mlflow_request(body, content_type=JSON), max_rows=8)
    assert batch.as_frame()["city"].tolist() == ["Oslo", "Lima"]
    assert np.isnan(batch.column("age")[1])


def test_dataframe_records(mixed_signature: Signature) -> None:
    body = b'{"dataframe_records": [{"age": 1.5, "city": "Rome", "member": true}]}'
    batch = validate_inputs(mixed_signature, decode_mlflow_request(body, content_type=JSON), max_rows=8)
    assert batch.column("city").tolist() == ["Rome"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2, 3]]}',
        b'{"inputs": [[1, 2, 3]]}',
        b'{"inputs": {"x0": [1], "x1": [2], "x2": [3]}}',
        b'{"instances": [{"x0": 1, "x1": 2, "x2": 3}]}',
    ],
    ids=["instances-rows", "inputs-rows", "inputs-columns", "instances-records"],
)
def test_tf_serving_forms(float_signature: Signature, body: bytes) -> None:
    batch = validate_inputs(float_signature, decode_mlflow_request(body, content_type=JSON), max_rows=8)
    assert batch.as_matrix().tolist() == [[1.0, 2.0, 3.0]]


def test_params_are_passed_on() -> None:
    raw = decode_mlflow_request(
        b'{"inputs": [[1]], "params": {"top_k": 3}}', content_type="application/json; charset=utf-8"
    )
    assert raw.parameters == {"top_k": 3}


def test_tensor_inputs(tensor_signature: Signature) -> None:
    body = b'{"inputs": {"image": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], "label": ["a", "b"]}}'
    batch = validate_inputs(tensor_signature, decode_mlflow_request(body, content_type=JSON), max_rows=8)
    assert batch.tensors["image"].dtype == np.float32 and len(batch) == 2


# --- CSV ------------------------------------------------------------------------------------

CSV_SIGNATURE = Signature(
    kind="columns",
    inputs=(
        FieldSpec("zip", "string"),
        FieldSpec("income", "float64", nullable=True),
        FieldSpec("kids", "int64"),
        FieldSpec("owner", "bool"),
        FieldSpec("rooms", "uint8"),
    ),
)


def test_csv_values_are_typed_by_the_signature() -> None:
    body = b'owner,zip,kids,income,rooms\r\ntrue,00123,2,55000.5,3\r\nFalse,"9,1",0,,4\r\n'
    raw = decode_mlflow_request(body, content_type="text/csv; charset=utf-8", signature=CSV_SIGNATURE)
    batch = validate_inputs(CSV_SIGNATURE, raw, max_rows=8)
    assert batch.column("zip").tolist() == ["00123", "9,1"]
    assert batch.column("kids").tolist() == [2, 0]
    assert batch.column("owner").tolist() == [True, False]
    assert batch.column("income")[0] == 55000.5 and np.isnan(batch.column("income")[1])


def test_csv_without_a_signature_infers_types(float_signature: Signature) -> None:
    raw = decode_mlflow_request(b"x0,x1,x2\n1,2.5,\n3,4,5\n", content_type="text/csv")
    assert [i.array.dtype for i in raw.items] == [np.int64, np.float64, np.float64]
    batch = validate_inputs(float_signature, raw, max_rows=8)
    assert batch.as_matrix()[1].tolist() == [3.0, 4.0, 5.0]


def test_csv_missing_column_is_a_signature_mismatch() -> None:
    raw = decode_mlflow_request(b"zip,income,kids,rooms\n1,2,3,4\n", content_type="text/csv", signature=CSV_SIGNATURE)
    with pytest.raises(SignatureMismatch, match="missing column\\(s\\) 'owner'"):
        validate_inputs(CSV_SIGNATURE, raw, max_rows=8)


def test_csv_header_only_is_zero_rows() -> None:
    raw = decode_mlflow_request(b"zip,income,kids,owner,rooms\n", content_type="text/csv", signature=CSV_SIGNATURE)
    with pytest.raises(SignatureMismatch, match="no rows"):
        validate_inputs(CSV_SIGNATURE, raw, max_rows=8)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"rooms\n1\n-1\n", SignatureMismatch, "column 'rooms': expected uint8, got another value in row 1"),
        (b"rooms\n2\n99999999999999999999999\n", SignatureMismatch, "expected uint8, got another value in row 1"),
        (b"zip,income,kids,owner\n1,abc,2,true\n", SignatureMismatch, "expected float64, got another value in row 0"),
        (b"zip,income,kids,owner\n1,2,2.5,true\n", SignatureMismatch, "expected int64, got another value in row 0"),
        (b"zip,income,kids,owner\n1,2,,true\n", SignatureMismatch, "expected int64, got another value in row 0"),
        (
            b"zip,income,kids,owner\n1,2,2,yes\n",
            SignatureMismatch,
            "column 'owner': expected bool (true/false) in row 0",
        ),
        (b"zip,income,kids,owner\n1,2,3\n", MalformedRequest, "CSV data row 1 has 3 fields, the header has 4"),
        (b"zip,zip\n1,2\n", MalformedRequest, "CSV column 'zip' appears twice"),
        (b"", MalformedRequest, "the CSV body is empty"),
        (b"\xff\xfe,a\n", MalformedRequest, "not valid utf-8"),
        (b'zip,"income\n1,2\n', MalformedRequest, "cannot be parsed"),
    ],
    ids=[
        "negative-unsigned",
        "too-big",
        "junk-float",
        "float-for-int",
        "empty-int",
        "bad-bool",
        "ragged",
        "duplicate-header",
        "empty",
        "bad-utf8",
        "bad-quote",
    ],
)
def test_bad_csv(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        decode_mlflow_request(body, content_type="text/csv", signature=CSV_SIGNATURE)
    assert message in str(caught.value)


# --- refusals -----------------------------------------------------------------------------------

BAD = [
    ("not-json", b'{"inputs": [1,', "not valid JSON"),
    ("top-level-array", b"[[1]]", "must be a JSON object, not array"),
    ("no-input-key", b'{"params": {}}', "exactly one of dataframe_split"),
    ("two-input-keys", b'{"inputs": [[1]], "instances": [[1]]}', "(got instances, inputs)"),
    ("unknown-key", b'{"inputs": [[1]], "columns": ["a"]}', "unknown field(s) 'columns'"),
    ("params-not-object", b'{"inputs": [[1]], "params": [1]}', "'params' must be an object"),
    ("split-not-object", b'{"dataframe_split": [[1]]}', "'columns' and 'data'"),
    (
        "split-unknown-key",
        b'{"dataframe_split": {"columns": ["a"], "data": [[1]], "dtype": "x"}}',
        "unknown field(s) 'dtype'",
    ),
    ("split-no-data", b'{"dataframe_split": {"columns": ["a"]}}', "needs 'data'"),
    ("split-columns-not-strings", b'{"dataframe_split": {"columns": [1], "data": [[1]]}}', "array of strings"),
    (
        "split-width",
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}',
        "rows have 3 values but there are 2",
    ),
    ("split-ragged", b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}', "ragged"),
    ("split-index", b'{"dataframe_split": {"columns": ["a"], "data": [[1]], "index": [0, 1]}}', "'index'"),
    ("split-flat-data", b'{"dataframe_split": {"columns": ["a"], "data": [1, 2]}}', "rows of values"),
    ("records-not-list", b'{"dataframe_records": {"a": 1}}', "array of records"),
    ("records-ragged", b'{"dataframe_records": [{"a": 1}, {"b": 2}]}', "lacks ['a']; has extra ['b']"),
]


@pytest.mark.parametrize(("body", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_json(body: bytes, message: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        decode_mlflow_request(body, content_type=JSON)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "text/csv; charset=nope",
    ],
    ids=["missing", "text-plain", "form", "json-latin1", "unknown-charset"],
)
def test_unsupported_media_types(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_mlflow_request(b'{"inputs": [[1]]}', content_type=content_type)
    assert "charset" in str(caught.value) or "application/json, text/csv" in str(caught.value)


def test_predictions_are_the_primary_output() -> None:
    assert orjson.loads(encode_mlflow_response({"y": np.array([[1, 2]])})) == {"predictions": [[1, 2]]}
    several = {"label": np.array(["a"], dtype=object), "proba": np.array([0.5])}
    assert orjson.loads(encode_mlflow_response(several)) == {"predictions": ["a"]}
