from __future__ import annotations

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch, UnsupportedMediaType
from shipyard.protocol.v1 import decode_v1_request, encode_v1_response
from shipyard.schema.signature import Signature
from shipyard.schema.validate import validate_inputs


def test_rows_as_lists_are_one_unnamed_matrix(float_signature: Signature) -> None:
    raw = decode_v1_request(b'{"instances": [[1, 2, 3.5], [4, 5, null]]}')
    assert len(raw.items) == 1 and raw.items[0].name is None
    batch = validate_inputs(float_signature, raw, max_rows=8)
    assert batch.as_matrix().dtype == np.float64
    assert batch.as_matrix()[0].tolist() == [1.0, 2.0, 3.5]
    assert np.isnan(batch.column("x2")[1])


def test_rows_as_records_are_named_columns(mixed_signature: Signature) -> None:
    body = orjson.dumps(
        {"instances": [{"city": "Oslo", "age": 30, "member": True}, {"city": "Lima", "age": None, "member": False}]}
    )
    batch = validate_inputs(mixed_signature, decode_v1_request(body), max_rows=8)
    assert batch.column("city").tolist() == ["Oslo", "Lima"]
    assert batch.column("member").tolist() == [True, False]
    assert np.isnan(batch.column("age")[1])


def test_mixed_rows_as_lists_keep_their_types(mixed_signature: Signature) -> None:
    raw = decode_v1_request(b'{"instances": [[30.5, "Oslo", true], [41, "Lima", false]]}')
    batch = validate_inputs(mixed_signature, raw, max_rows=8)
    assert batch.column("age").tolist() == [30.5, 41.0]
    assert batch.column("city").tolist() == ["Oslo", "Lima"]


def test_inputs_as_a_dict_of_columns(float_signature: Signature) -> None:
    raw = decode_v1_request(b'{"inputs": {"x0": [1, 2], "x1": [3, 4], "x2": [5, 6]}}', content_type="application/json")
    assert [i.name for i in raw.items] == ["x0", "x1", "x2"]
    assert validate_inputs(float_signature, raw, max_rows=8).as_matrix()[1].tolist() == [2.0, 4.0, 6.0]


def test_inputs_as_rows_and_tensors(tensor_signature: Signature) -> None:
    raw = decode_v1_request(b'{"inputs": {"image": [[[1, 2], [3, 4]]], "label": ["cat"]}}')
    batch = validate_inputs(tensor_signature, raw, max_rows=8)
    assert batch.tensors["image"].shape == (1, 2, 2)


def test_numbers_mixed_with_bools_are_refused_per_column(float_signature: Signature) -> None:
    raw = decode_v1_request(b'{"instances": [[1, true, 3]]}')
    with pytest.raises(SignatureMismatch, match="column 'x1': expected float64, got bool"):
        validate_inputs(float_signature, raw, max_rows=8)


def test_string_junk_in_a_number_column(float_signature: Signature) -> None:
    raw = decode_v1_request(b'{"instances": [[1, "abc", 3]]}')
    with pytest.raises(SignatureMismatch, match="column 'x1': expected float64, got string"):
        validate_inputs(float_signature, raw, max_rows=8)


def test_empty_instances_is_zero_rows(float_signature: Signature) -> None:
    with pytest.raises(SignatureMismatch, match="no rows"):
        validate_inputs(float_signature, decode_v1_request(b'{"instances": []}'), max_rows=8)


BAD = [
    ("not-json", b"{instances: 1}", "not valid JSON"),
    ("top-level-list", b"[[1, 2]]", "must be a JSON object"),
    ("neither-key", b"{}", "exactly one of 'instances' or 'inputs'"),
    ("both-keys", b'{"instances": [[1]], "inputs": [[1]]}', "exactly one"),
    ("unknown-key", b'{"instances": [[1]], "signature_name": "x"}', "unknown field(s) 'signature_name'"),
    ("instances-dict", b'{"instances": {"a": [1]}}', "must be an array of rows, not object"),
    ("instances-string", b'{"instances": "1,2"}', "not string"),
    ("ragged-rows", b'{"instances": [[1, 2], [3]]}', "ragged"),
    (
        "records-differ",
        b'{"instances": [{"a": 1, "b": 2}, {"a": 1, "c": 2}]}',
        "row 1 does not have the columns of row 0",
    ),
    ("records-then-list", b'{"instances": [{"a": 1}, [1]]}', "row 1 is array"),
    ("empty-record", b'{"instances": [{}]}', "non-empty object"),
    ("inputs-empty-dict", b'{"inputs": {}}', "non-empty object"),
    ("column-not-array", b'{"inputs": {"a": 1}}', "must be an array"),
]


@pytest.mark.parametrize(("body", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_requests(body: bytes, message: str) -> None:
    with pytest.raises(MalformedRequest) as caught:
        decode_v1_request(body)
    assert message in str(caught.value)


def test_csv_is_not_v1() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_v1_request(b"a,b\n1,2", content_type="text/csv")


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ({"y": np.array([0.5, 1.5])}, [0.5, 1.5]),
        ({"proba": np.array([[0.1, 0.9]], dtype=np.float32), "label": np.array([1])}, [[0.1, 0.9]]),
        ({"label": np.array(["cat", "dog"], dtype=object)}, ["cat", "dog"]),
        ({"flag": np.array([True])}, [True]),
    ],
    ids=["floats", "first-of-two-2d", "strings", "bools"],
)
def test_predictions_come_from_the_first_output(outputs: dict[str, np.ndarray], expected: list[object]) -> None:
    assert orjson.loads(encode_v1_response(outputs)) == {"predictions": expected}


def test_zeros_and_ones_are_not_mistaken_for_booleans(float_signature: Signature) -> None:
    raw = decode_v1_request(b'{"instances": [[0, 1, 1.0], [1, 0, 0.5]]}')
    assert raw.items[0].array.dtype == np.float64
    assert validate_inputs(float_signature, raw, max_rows=8).as_matrix().tolist() == [[0, 1, 1], [1, 0, 0.5]]


def test_booleans_hidden_deep_in_nested_rows_are_found(tensor_signature: Signature) -> None:
    raw = decode_v1_request(b'{"inputs": {"image": [[[1, 2], [3, false]]], "label": ["a"]}}')
    with pytest.raises(SignatureMismatch, match="input 'image': expected float32, got bool"):
        validate_inputs(tensor_signature, raw, max_rows=8)
