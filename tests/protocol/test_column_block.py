"""The fast decoders (one table for many columns) answer exactly as the per-column path.

V2 decodes per column without a signature, so decoding with and without one must give the
same batch, or the same error. Records, column dicts and CSV are checked the same way
against the forms that always take the per-column path.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import orjson
import pytest

from shipyard.errors import MalformedRequest, ShipyardError
from shipyard.protocol import mlflow, v1, v2
from shipyard.protocol.jsonio import infer_array
from shipyard.schema.batch import Batch, RawInputs
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

FLOATS = Signature(
    "columns", (FieldSpec("a", "float64"), FieldSpec("b", "float32"), FieldSpec("c", "float64", nullable=True))
)
INTS = Signature("columns", (FieldSpec("a", "int64"), FieldSpec("b", "float64")))
MIXED = Signature(
    "columns", (FieldSpec("a", "float64"), FieldSpec("t", "string"), FieldSpec("c", "float64", nullable=True))
)


def _outcome(signature: Signature, decode: Any) -> tuple[str, Any]:
    try:
        raw: RawInputs = decode()
        batch = validate_inputs(signature, raw, max_rows=100)
    except ShipyardError as exc:
        return "error", (type(exc).__name__, str(exc))
    return "ok", _content(batch)


def _content(batch: Batch) -> dict[str, Any]:
    out = {}
    for name in batch.signature.input_names:
        column = batch.column(name)
        values = column.tolist()
        if column.dtype.kind == "f":
            values = ["nan" if np.isnan(v) else v for v in values]  # NaN != NaN
        out[name] = (column.dtype.str, values)
    return out


def _v2(body: bytes, signature: Signature | None, header_length: int | None = None) -> RawInputs:
    return v2.decode_infer_request(
        body, content_type=None, header_length=header_length, signature=signature, max_rows=100
    ).inputs


def _tensor(name: str, datatype: str, shape: list[Any], data: Any) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def _cols(datatype: str = "FP64", **data: Any) -> dict[str, Any]:
    return {"inputs": [_tensor(n, datatype, [len(v) if isinstance(v, list) else 1], v) for n, v in data.items()]}


V2_JSON_CASES: dict[str, tuple[Signature, Any]] = {
    "name-unhashable": (
        FLOATS,
        {"inputs": [_tensor(["a"], "FP64", [1], [1]), _tensor("b", "FP64", [1], [1]), _tensor("c", "FP64", [1], [1])]},
    ),
    "name-not-text": (
        FLOATS,
        {"inputs": [_tensor(1, "FP64", [1], [1]), _tensor("b", "FP64", [1], [1]), _tensor("c", "FP64", [1], [1])]},
    ),
    "not-an-object": (FLOATS, {"inputs": [_tensor("a", "FP64", [1], [1]), [1], _tensor("c", "FP64", [1], [1])]}),
    "datatypes-differ": (
        FLOATS,
        {"inputs": [_tensor("a", "FP32", [1], [1]), _tensor("b", "FP64", [1], [1]), _tensor("c", "FP64", [1], [1])]},
    ),
    "floats": (FLOATS, _cols(a=[1.5, 2], b=[3, 4], c=[0.5, 1e300])),
    # Every value a JSON float: the one-pass path.
    "only-floats": (FLOATS, _cols(a=[1.5, 2.0], b=[3.0, 4.25], c=[0.5, 1e300])),
    "only-floats-fp32": (FLOATS, _cols("FP32", a=[1.5, 2.0], b=[3.0, 1e300], c=[0.5, 1.0])),
    "only-floats-nan-not-nullable": (FLOATS, _cols(a=[float("nan"), 2.0], b=[3.0, 4.0], c=[5.0, 6.0])),
    "only-floats-nan-nullable": (FLOATS, _cols(a=[1.0, 2.0], b=[3.0, 4.0], c=[float("nan"), 6.0])),
    "only-floats-lengths-differ": (FLOATS, _cols(a=[1.0, 2.0], b=[3.0, 4.0], c=[5.0])),
    "only-floats-int-signature": (INTS, _cols(a=[1.0, 2.0], b=[3.0, 4.0])),
    "only-floats-int-datatype": (INTS, _cols("INT64", a=[1.0, 2.0], b=[3.0, 4.0])),
    "reordered": (FLOATS, _cols(c=[0.5, 1], a=[1.5, 2], b=[3, 4])),
    "ints-declared": (FLOATS, _cols("INT64", a=[1, 2], b=[3, 4], c=[5, 6])),
    "int-signature": (INTS, _cols("INT64", a=[1, 2], b=[3, 4])),
    "int-signature-float-data": (INTS, _cols(a=[1.0, 2.0], b=[3.0, 4.0])),
    "fp32-declared": (FLOATS, _cols("FP32", a=[1.5, 2], b=[3, 4], c=[5, 6])),
    "bool-in-floats": (FLOATS, _cols(a=[True, 2], b=[3, 4], c=[5, 6])),
    "string-in-floats": (FLOATS, _cols(a=["1", 2], b=[3, 4], c=[5, 6])),
    "null-nullable": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[None, 6])),
    "null-not-nullable": (FLOATS, _cols(a=[None, 2], b=[3, 4], c=[5, 6])),
    "nan-not-nullable": (FLOATS, _cols(a=[float("nan"), 2], b=[3, 4], c=[5, 6])),
    "infinity": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[float("inf"), 6])),
    "float32-overflow": (FLOATS, _cols(a=[1, 2], b=[1e300, 4], c=[5, 6])),
    "missing-column": (FLOATS, _cols(a=[1, 2], b=[3, 4])),
    "extra-column": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[5, 6], d=[7, 8])),
    "twice": (
        FLOATS,
        {"inputs": [_tensor("a", "FP64", [1], [1]), _tensor("a", "FP64", [1], [1]), _tensor("b", "FP64", [1], [1])]},
    ),
    "lengths-differ": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[5])),
    "shape-lies": (FLOATS, {"inputs": [_tensor(n, "FP64", [2], [1]) for n in "abc"]}),
    "shape-n-1-flat": (FLOATS, {"inputs": [_tensor(n, "FP64", [2, 1], [1, 2]) for n in "abc"]}),
    "shape-n-1-nested": (FLOATS, {"inputs": [_tensor(n, "FP64", [2, 1], [[1], [2]]) for n in "abc"]}),
    "shape-n-nested": (FLOATS, {"inputs": [_tensor(n, "FP64", [2], [[1], [2]]) for n in "abc"]}),
    "shape-bool": (
        FLOATS,
        {"inputs": [_tensor("a", "FP64", [1], [1]), _tensor("b", "FP64", [True], [1]), _tensor("c", "FP64", [1], [1])]},
    ),
    "shape-float": (
        FLOATS,
        {"inputs": [_tensor("a", "FP64", [1], [1]), _tensor("b", "FP64", [1.0], [1]), _tensor("c", "FP64", [1], [1])]},
    ),
    "no-rows": (FLOATS, {"inputs": [_tensor(n, "FP64", [0], []) for n in "abc"]}),
    "int-overflow": (INTS, _cols("INT64", a=[2**63, 1], b=[3, 4])),
    "huge-int-in-floats": (FLOATS, _cols(a=[10**30, 1], b=[3, 4], c=[5, 6])),
    "mixed": (
        MIXED,
        {
            "inputs": [
                _tensor("a", "FP64", [2], [1, 2]),
                _tensor("t", "BYTES", [2], ["x", "y"]),
                _tensor("c", "FP64", [2], [None, 1]),
            ]
        },
    ),
    "mixed-text-first": (
        MIXED,
        {
            "inputs": [
                _tensor("t", "BYTES", [2], ["x", "y"]),
                _tensor("c", "FP64", [2], [3, 1]),
                _tensor("a", "FP64", [2], [1, 2]),
            ]
        },
    ),
    "mixed-bad-text": (
        MIXED,
        {
            "inputs": [
                _tensor("a", "FP64", [2], [1, 2]),
                _tensor("t", "BYTES", [2], [1, "y"]),
                _tensor("c", "FP64", [2], [0, 1]),
            ]
        },
    ),
    "mixed-null-text": (
        MIXED,
        {
            "inputs": [
                _tensor("a", "FP64", [1], [1]),
                _tensor("t", "BYTES", [1], [None]),
                _tensor("c", "FP64", [1], [0]),
            ]
        },
    ),
    "mixed-text-length": (
        MIXED,
        {
            "inputs": [
                _tensor("a", "FP64", [2], [1, 2]),
                _tensor("t", "BYTES", [1], ["x"]),
                _tensor("c", "FP64", [2], [0, 1]),
            ]
        },
    ),
    "mixed-nan-and-null": (
        MIXED,
        {
            "inputs": [
                _tensor("a", "FP64", [1], [None]),
                _tensor("t", "BYTES", [1], [None]),
                _tensor("c", "FP64", [1], [0]),
            ]
        },
    ),
    "extra-field": (FLOATS, {"inputs": [{**_tensor(n, "FP64", [1], [1]), "extra": 1} for n in "abc"]}),
    "parameters": (FLOATS, {"inputs": [{**_tensor(n, "FP64", [1], [1]), "parameters": {"x": 1}} for n in "abc"]}),
}


@pytest.mark.parametrize("case", list(V2_JSON_CASES), ids=list(V2_JSON_CASES))
def test_v2_json_columns_decode_as_the_per_column_path(case: str) -> None:
    signature, request = V2_JSON_CASES[case]
    # Python's json writes what orjson cannot: integers past 64 bits, bare NaN and Infinity.
    body = json.dumps(request).encode()
    fast = _outcome(signature, lambda: _v2(body, signature))
    assert fast == _outcome(signature, lambda: _v2(body, None))


def test_v2_json_columns_become_one_table() -> None:
    signature, request = V2_JSON_CASES["reordered"]
    raw = _v2(orjson.dumps(request), signature)
    assert len(raw.items) == 1 and raw.items[0].column_names == ("a", "b", "c")
    assert raw.items[0].array.shape == (2, 3)


def _binary(tensors: list[tuple[str, str, list[int], bytes]], extra: bytes = b"") -> tuple[bytes, int]:
    header = orjson.dumps(
        {
            "inputs": [
                {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(data)}}
                for n, d, s, data in tensors
            ]
        }
    )
    return header + b"".join(t[3] for t in tensors) + extra, len(header)


def _f8(*values: float) -> bytes:
    return np.asarray(values, dtype="<f8").tobytes()


def _text(*values: str) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


V2_BINARY_CASES: dict[str, tuple[Signature, tuple[bytes, int]]] = {
    "floats": (
        FLOATS,
        _binary([("a", "FP64", [2], _f8(1, 2)), ("b", "FP64", [2], _f8(3, 4)), ("c", "FP64", [2], _f8(5, 6))]),
    ),
    "reordered": (
        FLOATS,
        _binary([("c", "FP64", [2], _f8(5, 6)), ("a", "FP64", [2], _f8(1, 2)), ("b", "FP64", [2], _f8(3, 4))]),
    ),
    "nan-nullable": (
        FLOATS,
        _binary([("a", "FP64", [1], _f8(1)), ("b", "FP64", [1], _f8(3)), ("c", "FP64", [1], _f8(np.nan))]),
    ),
    "nan-not-nullable": (
        FLOATS,
        _binary([("a", "FP64", [1], _f8(np.nan)), ("b", "FP64", [1], _f8(3)), ("c", "FP64", [1], _f8(1))]),
    ),
    "bytes-left-over": (
        FLOATS,
        _binary([("a", "FP64", [1], _f8(1)), ("b", "FP64", [1], _f8(3)), ("c", "FP64", [1], _f8(1))], b"xx"),
    ),
    "size-lies": (
        FLOATS,
        _binary([("a", "FP64", [2], _f8(1)), ("b", "FP64", [2], _f8(3)), ("c", "FP64", [2], _f8(1))]),
    ),
    "int64": (
        INTS,
        _binary(
            [
                ("a", "INT64", [1], np.asarray([7], "<i8").tobytes()),
                ("b", "INT64", [1], np.asarray([9], "<i8").tobytes()),
            ]
        ),
    ),
    "mixed": (
        MIXED,
        _binary([("a", "FP64", [2], _f8(1, 2)), ("t", "BYTES", [2], _text("x", "y")), ("c", "FP64", [2], _f8(0, 1))]),
    ),
    "mixed-text-first": (
        MIXED,
        _binary([("t", "BYTES", [2], _text("xy", "")), ("c", "FP64", [2], _f8(0, 1)), ("a", "FP64", [2], _f8(1, 2))]),
    ),
    "mixed-text-cut-off": (
        MIXED,
        _binary(
            [("a", "FP64", [1], _f8(1)), ("t", "BYTES", [1], struct.pack("<I", 9) + b"x"), ("c", "FP64", [1], _f8(0))]
        ),
    ),
    "mixed-left-over": (
        MIXED,
        _binary([("a", "FP64", [1], _f8(1)), ("t", "BYTES", [1], _text("x")), ("c", "FP64", [1], _f8(0))], b"z"),
    ),
}


@pytest.mark.parametrize("case", list(V2_BINARY_CASES), ids=list(V2_BINARY_CASES))
def test_v2_binary_columns_decode_as_the_per_column_path(case: str) -> None:
    signature, (body, length) = V2_BINARY_CASES[case]
    fast = _outcome(signature, lambda: _v2(body, signature, length))
    assert fast == _outcome(signature, lambda: _v2(body, None, length))


def test_v2_binary_columns_are_one_view_of_the_body() -> None:
    signature, (body, length) = V2_BINARY_CASES["floats"]
    raw = _v2(body, signature, length)
    assert len(raw.items) == 1 and raw.items[0].array.base is not None


TABLE_CASES: dict[str, tuple[Signature, Any]] = {
    "floats": (FLOATS, [{"a": 1.5, "b": 2, "c": 3}, {"a": 4, "b": 5, "c": 6.5}]),
    "other-key-order": (FLOATS, [{"c": 1.5, "b": 2, "a": 3}, {"a": 4, "c": 5, "b": 6.5}]),
    "ints": (INTS, [{"a": 1, "b": 2}, {"a": 2**62 + 1, "b": 3}]),
    "int-column-beside-floats": (INTS, [{"a": 2**60 + 1, "b": 2.5}]),
    "bools": (FLOATS, [{"a": True, "b": 2, "c": 3}]),
    "nulls": (FLOATS, [{"a": 1, "b": 2, "c": None}]),
    "text": (MIXED, [{"a": 1, "t": "x", "c": 3}]),
    "text-first": (MIXED, [{"t": "x", "c": 3, "a": 1.5}, {"a": 2, "t": "y", "c": 4}]),
    "text-holds-number": (MIXED, [{"a": 1, "t": 5, "c": 3}]),
    "text-null": (MIXED, [{"a": 1, "t": None, "c": 3}]),
    "text-and-numeric-null": (MIXED, [{"a": 1, "t": "x", "c": None}]),
    "text-nested": (MIXED, [{"a": 1, "t": ["x"], "c": 3}]),
    "missing": (FLOATS, [{"a": 1, "b": 2}]),
    "extra": (FLOATS, [{"a": 1, "b": 2, "c": 3, "d": 4}]),
    "rows-differ": (FLOATS, [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}]),
    "infinite-float32": (FLOATS, [{"a": 1, "b": 1e300, "c": 3}]),
}


@pytest.mark.parametrize("case", list(TABLE_CASES), ids=list(TABLE_CASES))
def test_records_decode_as_the_per_column_path(case: str) -> None:
    """Without a signature the records decode one column at a time."""
    signature, records = TABLE_CASES[case]
    body = orjson.dumps({"dataframe_records": records})

    def decode(with_signature: Signature | None) -> Any:
        return lambda: mlflow.decode_mlflow_request(body, content_type="application/json", signature=with_signature)

    assert _outcome(signature, decode(signature)) == _outcome(signature, decode(None))
    body_v1 = orjson.dumps({"instances": records})
    slow = _outcome(signature, lambda: v1.decode_v1_request(body_v1))
    assert _outcome(signature, lambda: v1.decode_v1_request(body_v1, signature=signature)) == slow


DICT_CASES = {
    **{
        case: (signature, {n: [row.get(n) for row in rows] for n in rows[0]})
        for case, (signature, rows) in TABLE_CASES.items()
        if case != "rows-differ"
    },
    "lengths-differ": (MIXED, {"a": [1, 2], "t": ["x"], "c": [3, 4]}),
    "text-not-a-list": (MIXED, {"a": [1, 2], "t": "xy", "c": [3, 4]}),
    "numbers-differ": (FLOATS, {"a": [1, 2], "b": [1], "c": [3, 4]}),
}


@pytest.mark.parametrize("case", list(DICT_CASES), ids=list(DICT_CASES))
def test_column_dicts_decode_as_the_per_column_path(case: str) -> None:
    signature, columns = DICT_CASES[case]
    body = orjson.dumps({"inputs": columns})
    slow = _outcome(signature, lambda: v1.decode_v1_request(body))
    assert _outcome(signature, lambda: v1.decode_v1_request(body, signature=signature)) == slow


CSV_CASES = {
    "floats": "a,b,c\n1.5,2,3\n4,5,6.5\n",
    "reordered": "c,a,b\n1.5,2,3\n4,5,6.5\n",
    "crlf": "a,b,c\r\n1.5,2,3\r\n4,5,6.5\r\n",
    "blank-lines": "a,b,c\n\n1.5,2,3\n\n",
    "empty-cell": "a,b,c\n1.5,2,\n",
    "empty-cell-not-nullable": "a,b,c\n,2,3\n",
    "underscores": "a,b,c\n1_000,2,3\n",
    "nan-inf": "a,b,c\n1,2,nan\n1,2,inf\n",
    "text": "a,b,c\n1,x,3\n",
    "short-row": "a,b,c\n1,2\n",
    "long-row": "a,b,c\n1,2,3,4\n",
    "missing-column": "a,b\n1,2\n",
    "twice": "a,a,c\n1,2,3\n",
    "lone-cr": "a,b,c\r1,2,3\n",
    "header-only": "a,b,c\n",
}


@pytest.mark.parametrize("case", list(CSV_CASES), ids=list(CSV_CASES))
def test_csv_decodes_as_the_csv_module_path(case: str) -> None:
    text = CSV_CASES[case]
    fast = _outcome(
        FLOATS, lambda: mlflow.decode_mlflow_request(text.encode(), content_type="text/csv", signature=FLOATS)
    )
    # A quoted header cell sends the body through the csv module, column by column.
    quoted = text.replace("a", '"a"', 1)
    slow = _outcome(
        FLOATS, lambda: mlflow.decode_mlflow_request(quoted.encode(), content_type="text/csv", signature=FLOATS)
    )
    assert fast == slow


MIXED_ROWS = {
    "mixed": [[1.5, "x", None], [2, "y", True]],
    "big-int": [[2**70, "x"], [1, "y"]],
    "nested": [[1, "x"], [2, [3]]],
    "object-inside": [[1, "x"], [2, {"a": 1}]],
    "ragged": [[1, "x"], [2]],
    "row-not-list": [[1, "x"], "ab"],
    "text-only": [["x", "y"], ["z", "w"]],
}


def _numpy_route(data: Any) -> Any:
    """What ``infer_array`` gave before it built mixed rows directly: numpy's string array,
    then the originals at its shape."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        return "refused"
    if array.dtype.kind == "U":
        out = np.empty(array.shape, dtype=object)
        out[...] = data
        return (out.dtype.str, out.shape, out.tolist())
    return (array.dtype.str, array.shape, array.tolist())


@pytest.mark.parametrize("case", list(MIXED_ROWS), ids=list(MIXED_ROWS))
def test_mixed_rows_decode_as_numpy_would(case: str) -> None:
    data = MIXED_ROWS[case]
    try:
        array = infer_array(data, where="rows")
    except MalformedRequest:
        got: Any = "refused"
    else:
        got = (array.dtype.str, array.shape, array.tolist())
    assert got == _numpy_route(data)


def test_v2_json_all_float_columns_become_one_table() -> None:
    signature, request = V2_JSON_CASES["only-floats"]
    raw = _v2(orjson.dumps(request), signature)
    assert len(raw.items) == 1 and raw.items[0].name is None
    assert raw.items[0].array.tolist() == [[1.5, 3.0, 0.5], [2.0, 4.25, 1e300]]
