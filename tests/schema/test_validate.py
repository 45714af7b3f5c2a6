from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shipyard.errors import MalformedRequest, SignatureMismatch, TooManyRows
from shipyard.schema.batch import RawInput, RawInputs
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs


def raw(*items: RawInput) -> RawInputs:
    return RawInputs(items=items)


def obj(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# --- columns signature, homogeneous float64 -------------------------------------------


def test_named_columns_in_any_order_become_one_contiguous_matrix(float_signature: Signature) -> None:
    batch = validate_inputs(
        float_signature,
        raw(
            RawInput("x2", np.array([3.0, 6.0])),
            RawInput("x0", np.array([1, 4])),
            RawInput("x1", np.array([[2.0], [5.0]])),
        ),
        max_rows=10,
    )
    matrix = batch.as_matrix()
    assert matrix.dtype == np.float64
    assert matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, [[1, 2, 3], [4, 5, 6]])
    assert len(batch) == 2


@pytest.mark.parametrize("name", [None, "input-0"], ids=["unnamed", "mlserver-name"])
def test_one_2d_tensor_is_taken_in_signature_order_without_copy(float_signature: Signature, name: str | None) -> None:
    data = np.arange(6, dtype=np.float64).reshape(2, 3)
    batch = validate_inputs(float_signature, raw(RawInput(name, data)), max_rows=10)
    assert batch.as_matrix() is data
    np.testing.assert_array_equal(batch.column("x1"), [1.0, 4.0])


def test_table_with_column_names_is_reordered(float_signature: Signature) -> None:
    data = np.array([[3.0, 1.0, 2.0]])
    batch = validate_inputs(float_signature, raw(RawInput(None, data, column_names=("x2", "x0", "x1"))), max_rows=10)
    np.testing.assert_array_equal(batch.as_matrix(), [[1.0, 2.0, 3.0]])


def test_ints_and_float32_are_widened_to_float64(float_signature: Signature) -> None:
    batch = validate_inputs(float_signature, raw(RawInput(None, np.ones((2, 3), dtype=np.int32))), max_rows=10)
    assert batch.as_matrix().dtype == np.float64
    batch = validate_inputs(float_signature, raw(RawInput(None, np.ones((2, 3), dtype=np.float32))), max_rows=10)
    assert batch.as_matrix().dtype == np.float64


def test_nan_passes_a_nullable_column(float_signature: Signature) -> None:
    data = np.array([[1.0, 2.0, np.nan]])
    batch = validate_inputs(float_signature, raw(RawInput(None, data)), max_rows=10)
    assert np.isnan(batch.column("x2")[0])


def test_null_in_object_rows_is_nan_in_a_nullable_column(float_signature: Signature) -> None:
    rows = np.empty((1, 3), dtype=object)
    rows[0] = [1, 2.5, None]
    batch = validate_inputs(float_signature, raw(RawInput(None, rows)), max_rows=10)
    assert batch.as_matrix().dtype == np.float64
    assert np.isnan(batch.column("x2")[0])


def test_single_column_accepts_an_unnamed_1d_input() -> None:
    signature = Signature(kind="columns", inputs=(FieldSpec("x", "float64"),))
    batch = validate_inputs(signature, raw(RawInput(None, np.array([1.0, 2.0]))), max_rows=10)
    np.testing.assert_array_equal(batch.column("x"), [1.0, 2.0])


# --- columns signature, mixed dtypes ----------------------------------------------------


def test_mixed_columns_stay_per_column_with_their_dtypes(mixed_signature: Signature) -> None:
    batch = validate_inputs(
        mixed_signature,
        raw(
            RawInput("city", obj(["Oslo", "Lima"])),
            RawInput("age", obj([31, None])),
            RawInput("member", np.array([True, False])),
            RawInput("visits", np.array([3, 4], dtype=np.int64)),
        ),
        max_rows=10,
    )
    frame = batch.as_frame()
    assert list(frame.columns) == ["age", "city", "member", "visits"]
    assert frame["visits"].dtype == np.int32
    assert frame["member"].dtype == np.bool_
    assert batch.column("city").dtype == object
    assert batch.column("city").tolist() == ["Oslo", "Lima"]
    assert np.isnan(batch.column("age")[1])


def test_mixed_rows_as_one_object_table_are_split_into_columns(mixed_signature: Signature) -> None:
    rows = np.empty((2, 4), dtype=object)
    rows[0] = [30.5, "Oslo", True, 1]
    rows[1] = [41, "Lima", False, 2]
    batch = validate_inputs(mixed_signature, raw(RawInput(None, rows)), max_rows=10)
    assert batch.column("age").dtype == np.float64
    assert batch.column("visits").tolist() == [1, 2]
    assert batch.column("member").tolist() == [True, False]


def test_bytes_are_decoded_into_a_string_column(mixed_signature: Signature) -> None:
    batch = validate_inputs(
        mixed_signature,
        raw(
            RawInput("age", np.array([1.0])),
            RawInput("city", obj([b"Z\xc3\xbcrich"]), declared_dtype="bytes"),
            RawInput("member", np.array([True])),
            RawInput("visits", np.array([1])),
        ),
        max_rows=10,
    )
    assert batch.column("city").tolist() == ["Zürich"]


# --- tensors signature --------------------------------------------------------------------


def test_tensors_pass_with_wildcard_batch(tensor_signature: Signature) -> None:
    batch = validate_inputs(
        tensor_signature,
        raw(RawInput("image", np.zeros((3, 2, 2), dtype=np.float64)), RawInput("mask", np.ones((3, 2), dtype=bool))),
        max_rows=10,
    )
    assert batch.tensors["image"].dtype == np.float32
    assert len(batch) == 3


def test_a_single_tensor_input_may_be_unnamed() -> None:
    signature = Signature(kind="tensors", inputs=(FieldSpec("x", "int64", (-1, 2)),))
    batch = validate_inputs(signature, raw(RawInput(None, np.array([[1, 2]]))), max_rows=10)
    assert batch.tensors["x"].tolist() == [[1, 2]]


# --- refusals ---------------------------------------------------------------------------------

FLOAT_SIG = Signature(
    kind="columns",
    inputs=(FieldSpec("x0", "float64"), FieldSpec("x1", "float64"), FieldSpec("x2", "float64", nullable=True)),
)
MIXED_SIG = Signature(
    kind="columns",
    inputs=(FieldSpec("n", "int8"), FieldSpec("s", "string"), FieldSpec("b", "bool"), FieldSpec("f", "float64")),
)
TENSOR_SIG = Signature(kind="tensors", inputs=(FieldSpec("image", "float32", (-1, 2, 2)), FieldSpec("k", "int64")))
WIDE_SIG = Signature(kind="columns", inputs=tuple(FieldSpec(f"c{i}", "float64") for i in range(50)))


def _cols(**columns: np.ndarray) -> RawInputs:
    return RawInputs(items=tuple(RawInput(name, values) for name, values in columns.items()))


def _mixed(**override: np.ndarray) -> RawInputs:
    columns = {"n": np.array([1]), "s": obj(["a"]), "b": np.array([True]), "f": np.array([1.0])}
    columns.update(override)
    return _cols(**columns)


BAD = [
    ("no-inputs", FLOAT_SIG, RawInputs(items=()), MalformedRequest, "no inputs"),
    ("missing-column", FLOAT_SIG, _cols(x0=np.ones(2), x1=np.ones(2)), SignatureMismatch, "missing column(s) 'x2'"),
    (
        "unexpected-column",
        FLOAT_SIG,
        _cols(x0=np.ones(2), x1=np.ones(2), x2=np.ones(2), x9=np.ones(2)),
        SignatureMismatch,
        "unexpected column(s) 'x9'",
    ),
    ("wide-schema-not-dumped", WIDE_SIG, _cols(c0=np.ones(2), zz=np.ones(2)), SignatureMismatch, "and 44 more"),
    (
        "duplicate-column",
        FLOAT_SIG,
        RawInputs(items=(RawInput("x0", np.ones(1)), RawInput("x0", np.ones(1)))),
        SignatureMismatch,
        "given twice",
    ),
    ("matrix-wrong-width", FLOAT_SIG, _cols(**{"input-0": np.ones((2, 4))}), SignatureMismatch, "3 columns"),
    (
        "unnamed-1d-for-3-columns",
        FLOAT_SIG,
        RawInputs(items=(RawInput(None, np.ones(3)),)),
        SignatureMismatch,
        "[n, 3]",
    ),
    (
        "column-2d-wide",
        FLOAT_SIG,
        _cols(x0=np.ones((2, 2)), x1=np.ones(2), x2=np.ones(2)),
        SignatureMismatch,
        "column 'x0': expected shape [n] or [n, 1]",
    ),
    (
        "columns-differ-in-length",
        FLOAT_SIG,
        _cols(x0=np.ones(2), x1=np.ones(3), x2=np.ones(2)),
        SignatureMismatch,
        "differ in length",
    ),
    (
        "string-into-float",
        FLOAT_SIG,
        _cols(x0=np.ones(1), x1=obj(["7"]), x2=np.ones(1)),
        SignatureMismatch,
        "column 'x1': expected float64, got string",
    ),
    (
        "unicode-array-into-float",
        FLOAT_SIG,
        _cols(x0=np.ones(1), x1=np.array(["7"]), x2=np.ones(1)),
        SignatureMismatch,
        "column 'x1': expected float64, got string",
    ),
    (
        "bool-into-float",
        FLOAT_SIG,
        _cols(x0=np.ones(1), x1=obj([True]), x2=np.ones(1)),
        SignatureMismatch,
        "column 'x1': expected float64, got bool",
    ),
    (
        "bool-array-into-float",
        FLOAT_SIG,
        _cols(x0=np.ones(1), x1=np.array([True]), x2=np.ones(1)),
        SignatureMismatch,
        "expected float64, got bool",
    ),
    (
        "declared-type-is-reported",
        FLOAT_SIG,
        RawInputs(items=(RawInput("m", np.array([["a", "b", "c"]]), declared_dtype="string"),)),
        SignatureMismatch,
        "expected float64, got string",
    ),
    (
        "float-into-int",
        MIXED_SIG,
        _mixed(n=np.array([1.5])),
        SignatureMismatch,
        "column 'n': expected int8, got float64",
    ),
    (
        "float-object-into-int",
        MIXED_SIG,
        _mixed(n=obj([1.0])),
        SignatureMismatch,
        "column 'n': expected int8, got float",
    ),
    ("int-out-of-range", MIXED_SIG, _mixed(n=np.array([300])), SignatureMismatch, "outside the range of int8"),
    ("huge-int-object", MIXED_SIG, _mixed(n=obj([2**70])), SignatureMismatch, "outside the range of int8"),
    ("null-into-int", MIXED_SIG, _mixed(n=obj([None])), SignatureMismatch, "column 'n': expected int8, got null"),
    ("int-into-bool", MIXED_SIG, _mixed(b=np.array([1])), SignatureMismatch, "column 'b': expected bool, got int64"),
    ("number-into-string", MIXED_SIG, _mixed(s=np.array([1.0])), SignatureMismatch, "column 's': expected string"),
    ("number-object-into-string", MIXED_SIG, _mixed(s=obj([1])), SignatureMismatch, "expected string, got int"),
    (
        "null-string-not-nullable",
        MIXED_SIG,
        _mixed(s=obj([None])),
        SignatureMismatch,
        "column 's': null is not allowed",
    ),
    ("bad-utf8-bytes", MIXED_SIG, _mixed(s=obj([b"\xff"])), SignatureMismatch, "UTF-8"),
    (
        "nan-not-nullable",
        FLOAT_SIG,
        _cols(x0=np.array([np.nan]), x1=np.ones(1), x2=np.ones(1)),
        SignatureMismatch,
        "'x0': NaN",
    ),
    (
        "nan-in-matrix-not-nullable",
        FLOAT_SIG,
        RawInputs(items=(RawInput(None, np.array([[1.0, np.nan, 1.0]])),)),
        SignatureMismatch,
        "column 'x1': NaN",
    ),
    (
        "inf-even-if-nullable",
        FLOAT_SIG,
        RawInputs(items=(RawInput(None, np.array([[1.0, 1.0, np.inf]])),)),
        SignatureMismatch,
        "column 'x2': infinite",
    ),
    ("inf-per-column", MIXED_SIG, _mixed(f=np.array([-np.inf])), SignatureMismatch, "column 'f': infinite"),
    ("zero-rows-matrix", FLOAT_SIG, RawInputs(items=(RawInput(None, np.empty((0, 3))),)), SignatureMismatch, "no rows"),
    ("zero-rows-unnamed-1d", FLOAT_SIG, RawInputs(items=(RawInput(None, np.empty(0)),)), SignatureMismatch, "no rows"),
    ("zero-rows-columns", FLOAT_SIG, _cols(x0=np.ones(0), x1=np.ones(0), x2=np.ones(0)), SignatureMismatch, "no rows"),
    ("too-many-rows", FLOAT_SIG, RawInputs(items=(RawInput(None, np.ones((11, 3))),)), TooManyRows, "11 rows"),
    (
        "table-missing-name",
        FLOAT_SIG,
        RawInputs(items=(RawInput(None, np.ones((1, 2)), column_names=("x0", "x1")),)),
        SignatureMismatch,
        "missing column(s) 'x2'",
    ),
    (
        "table-extra-name",
        FLOAT_SIG,
        RawInputs(items=(RawInput(None, np.ones((1, 4)), column_names=("x0", "x1", "x2", "zz")),)),
        SignatureMismatch,
        "unexpected column(s) 'zz'",
    ),
    (
        "tensor-shape",
        TENSOR_SIG,
        _cols(image=np.ones((2, 2, 3)), k=np.ones(2, dtype=np.int64)),
        SignatureMismatch,
        "input 'image': expected shape [-1, 2, 2], got [2, 2, 3]",
    ),
    (
        "tensor-rank",
        TENSOR_SIG,
        _cols(image=np.ones((2, 4)), k=np.ones(2, dtype=np.int64)),
        SignatureMismatch,
        "expected shape",
    ),
    (
        "tensor-dtype",
        TENSOR_SIG,
        _cols(image=np.ones((2, 2, 2)), k=np.array([1.0, 2.5])),
        SignatureMismatch,
        "input 'k': expected int64",
    ),
    ("tensor-missing", TENSOR_SIG, _cols(image=np.ones((2, 2, 2))), SignatureMismatch, "missing input(s) 'k'"),
    (
        "tensor-batch-sizes",
        TENSOR_SIG,
        _cols(image=np.ones((2, 2, 2)), k=np.ones(3, dtype=np.int64)),
        SignatureMismatch,
        "differ in batch size",
    ),
    (
        "tensor-nan",
        TENSOR_SIG,
        _cols(image=np.full((1, 2, 2), np.nan), k=np.ones(1, dtype=np.int64)),
        SignatureMismatch,
        "input 'image': NaN",
    ),
    (
        "tensor-float-overflow",
        TENSOR_SIG,
        _cols(image=np.full((1, 2, 2), 1e300), k=np.ones(1, dtype=np.int64)),
        SignatureMismatch,
        "out-of-range",
    ),
]


@pytest.mark.parametrize(("signature", "inputs", "error", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_refused(signature: Signature, inputs: RawInputs, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        validate_inputs(signature, inputs, max_rows=10)
    assert type(caught.value) is error
    assert message in str(caught.value)
    assert len(str(caught.value)) < 400


def test_whole_json_numbers_fit_integer_columns_but_declared_floats_do_not() -> None:
    sig = Signature(kind="columns", inputs=(FieldSpec("count", "int64"), FieldSpec("score", "float64")))
    rows = np.array([[3.0, 0.5], [4.0, 0.25]])
    batch = validate_inputs(sig, RawInputs((RawInput(None, rows, column_names=("count", "score")),)), max_rows=10)
    assert batch.column("count").dtype == np.int64
    assert batch.column("count").tolist() == [3, 4]
    declared = RawInputs(
        (RawInput("count", np.array([3.0]), declared_dtype="float64"), RawInput("score", np.array([0.5])))
    )
    with pytest.raises(SignatureMismatch, match="expected int64"):
        validate_inputs(sig, declared, max_rows=10)
    too_big = RawInputs((RawInput(None, np.array([[1e30, 0.5]]), column_names=("count", "score")),))
    with pytest.raises(SignatureMismatch, match="range"):
        validate_inputs(sig, too_big, max_rows=10)
