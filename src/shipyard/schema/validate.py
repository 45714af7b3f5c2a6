"""Check decoded inputs against a model's signature and build the Batch it predicts on.

Casts are value-safe only: integers into any float or into a narrower integer whose range
holds the values; floats into a float of another width (an overflow becomes infinity and is
refused like any infinity); never floats into integers, strings into numbers, or booleans
into anything but a bool field. NaN (JSON null in a float field) passes only a ``nullable``
field. The common case, every column of one numeric dtype, ends as one contiguous matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest, SignatureMismatch, TooManyRows
from shipyard.schema.batch import Batch, RawInput, RawInputs
from shipyard.schema.signature import FLOAT_DTYPES, FieldSpec, Signature, numpy_dtype

_SHOWN_NAMES = 5
"""At most this many names per list in an error: a wide schema must not flood the message."""

_TYPE_NAMES: dict[type, str] = {str: "string", bytes: "bytes", bool: "bool", int: "int", float: "float"}
_NONE = type(None)

_Column = tuple[str | None, np.ndarray, str | None]
"""One column as validation sees it: its name, its values, the datatype the caller declared."""


def validate_inputs(signature: Signature, raw: RawInputs, *, max_rows: int) -> Batch:
    """The Batch ``raw`` makes under ``signature``; SignatureMismatch or TooManyRows if none."""
    if not raw.items:
        raise MalformedRequest("the request has no inputs")
    items = raw.items
    if all(item.array.ndim and item.array.shape[0] == 0 for item in items):
        raise SignatureMismatch("the request holds no rows")
    if signature.kind == "tensors":
        return _tensors(signature, items, max_rows)
    k = len(signature.inputs)
    if len(items) > 1 and any(item.column_names is not None for item in items):
        columns, ready = _split_tables(signature, items)
        return _named_columns(signature, columns, max_rows, ready=ready)
    if len(items) == 1:
        item = items[0]
        if item.column_names is not None:
            return _table(signature, item, max_rows)
        positional = item.name is None or signature.position(item.name) is None
        if positional and (item.array.ndim == 2 or (item.array.ndim == 1 and k == 1)):
            matrix = item.array.reshape(-1, 1) if item.array.ndim == 1 else item.array
            return _matrix(
                signature, matrix, declared=item.declared_dtype, name=item.name, order=None, max_rows=max_rows
            )
        if item.name is None:
            raise SignatureMismatch(
                f"expected {k} columns, got one unnamed input of shape {list(item.array.shape)}",
                hint=f"send one [n, {k}] input in signature column order, or one named input per column",
            )
    return _named_columns(signature, [(i.name, i.array, i.declared_dtype) for i in items], max_rows)


def _split_tables(signature: Signature, items: Sequence[RawInput]) -> tuple[list[_Column], frozenset[str]]:
    """Tables beside other inputs (a decoder's block of numeric columns beside text ones)
    as one input per column, each then checked as if it had come alone; and the columns
    that need no check at all: a float table's, in their field's dtype, when one bulk test
    finds every value finite."""
    out: list[_Column] = []
    ready: set[str] = set()
    for item in items:
        names = item.column_names
        if names is None:
            out.append((item.name, item.array, item.declared_dtype))
            continue
        array = item.array
        if array.ndim != 2 or array.shape[1] != len(names):
            raise MalformedRequest(f"{len(names)} column names for data of shape {list(array.shape)}")
        # Iterating the transpose yields each column as a view, in C.
        out.extend(zip(names, array.T, repeat(item.declared_dtype)))
        if array.dtype.kind == "f" and array.size and np.isfinite(array).all():
            held = array.dtype.name
            index = signature.index
            ready.update(n for n in names if n in index and signature.inputs[index[n]].dtype == held)
    return out, frozenset(ready)


def _table(signature: Signature, item: RawInput, max_rows: int) -> Batch:
    names = item.column_names or ()
    array = item.array
    if array.ndim != 2 or array.shape[1] != len(names):
        raise MalformedRequest(f"{len(names)} column names for data of shape {list(array.shape)}")
    order: list[int] | None = None
    if names != signature.input_names:
        _check_names(signature.input_names, names, what="column")
        order = [names.index(name) for name in signature.input_names]
    return _matrix(signature, array, declared=item.declared_dtype, name=item.name, order=order, max_rows=max_rows)


def _matrix(
    signature: Signature,
    matrix: np.ndarray,
    *,
    declared: str | None,
    name: str | None,
    order: list[int] | None,
    max_rows: int,
) -> Batch:
    specs = signature.inputs
    if matrix.ndim != 2 or matrix.shape[1] != len(specs):
        shown = ", ".join(repr(s.name) for s in specs[:_SHOWN_NAMES])
        more = f" and {len(specs) - _SHOWN_NAMES} more" if len(specs) > _SHOWN_NAMES else ""
        raise SignatureMismatch(
            f"expected a 2-D input of {len(specs)} columns ({shown}{more}), got shape {list(matrix.shape)}",
            hint="send one tensor per column, or one [n, k] tensor in signature column order",
        )
    _check_rows(matrix.shape[0], max_rows)
    homogeneous = signature.homogeneous_dtype
    if homogeneous is not None and homogeneous not in ("string", "bytes") and matrix.dtype.kind != "O":
        label = f"input {name!r}" if name else "input"
        source = matrix if order is None else matrix[:, order]
        out = np.ascontiguousarray(_coerce(source, homogeneous, declared, f"{label} (all columns)"))
        if out.dtype.kind == "f":
            _check_matrix_finite(out, specs)
        return Batch(signature, matrix=out)
    positions = order if order is not None else range(len(specs))
    columns = [(spec, matrix[:, j], declared) for spec, j in zip(specs, positions, strict=True)]
    return _assemble(signature, columns, matrix.shape[0])


def _named_columns(
    signature: Signature, columns: list[_Column], max_rows: int, *, ready: frozenset[str] = frozenset()
) -> Batch:
    specs = signature.inputs
    by_name: dict[str, _Column] = {}
    for column in columns:
        name = column[0]
        if name is None:
            raise SignatureMismatch("every column needs a name when several are sent")
        if name in by_name:
            raise SignatureMismatch(f"column {name!r} is given twice")
        by_name[name] = column
    _check_names(signature.input_names, list(by_name), what="column")
    n: int | None = None
    first: str | None = None
    for name, array, _ in columns:
        shape = array.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise SignatureMismatch(f"column {name!r}: expected shape [n] or [n, 1], got {list(shape)}")
        if n is None:
            n, first = shape[0], name
        elif shape[0] != n:
            raise SignatureMismatch(f"columns differ in length: {first!r} has {n} rows, {name!r} {shape[0]}")
    assert n is not None
    _check_rows(n, max_rows)
    picked = [(spec, by_name[spec.name][1].reshape(-1), by_name[spec.name][2]) for spec in specs]
    return _assemble(signature, picked, n, ready=ready)


def _assemble(
    signature: Signature,
    columns: list[tuple[FieldSpec, np.ndarray, str | None]],
    n: int,
    *,
    ready: frozenset[str] = frozenset(),
) -> Batch:
    converted = {
        spec.name: values if spec.name in ready else _field(values, spec, declared, f"column {spec.name!r}")
        for spec, values, declared in columns
    }
    homogeneous = signature.homogeneous_dtype
    if homogeneous is None or homogeneous in ("string", "bytes"):
        return Batch(signature, columns=converted)
    matrix = np.empty((n, len(columns)), dtype=numpy_dtype(homogeneous))
    for j, values in enumerate(converted.values()):
        matrix[:, j] = values
    return Batch(signature, matrix=matrix)


def _tensors(signature: Signature, items: Sequence[RawInput], max_rows: int) -> Batch:
    specs = signature.inputs
    if len(items) == 1 and items[0].name is None and len(specs) == 1:
        by_name = {specs[0].name: items[0]}
    else:
        by_name = _by_name(items, what="input")
        _check_names(signature.input_names, list(by_name), what="input")
    n: int | None = None
    for spec in specs:
        shape = by_name[spec.name].array.shape
        fits = len(shape) == len(spec.shape) and all(s in (-1, d) for s, d in zip(spec.shape, shape, strict=True))
        if not fits:
            raise SignatureMismatch(f"input {spec.name!r}: expected shape {list(spec.shape)}, got {list(shape)}")
        if n is None:
            n = shape[0]
        elif shape[0] != n:
            raise SignatureMismatch(f"inputs differ in batch size: {specs[0].name!r} has {n}, {spec.name!r} {shape[0]}")
    assert n is not None
    _check_rows(n, max_rows)
    tensors = {
        spec.name: _field(by_name[spec.name].array, spec, by_name[spec.name].declared_dtype, f"input {spec.name!r}")
        for spec in specs
    }
    return Batch(signature, tensors=tensors)


def _by_name(items: Sequence[RawInput], *, what: str) -> dict[str, RawInput]:
    out: dict[str, RawInput] = {}
    for item in items:
        if item.name is None:
            raise SignatureMismatch(f"every {what} needs a name when several are sent")
        if item.name in out:
            raise SignatureMismatch(f"{what} {item.name!r} is given twice")
        out[item.name] = item
    return out


def _check_names(expected: Sequence[str], got: Sequence[str], *, what: str) -> None:
    if len(set(got)) != len(got):
        twice = next(n for n in got if list(got).count(n) > 1)
        raise SignatureMismatch(f"{what} {twice!r} is given twice")
    expected_set, got_set = set(expected), set(got)
    missing = [n for n in expected if n not in got_set]
    unexpected = [n for n in got if n not in expected_set]
    if not missing and not unexpected:
        return
    parts = []
    if missing:
        parts.append(f"missing {what}(s) {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected {what}(s) {_names(unexpected)}")
    raise SignatureMismatch("; ".join(parts))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOWN_NAMES])
    return shown + (f" and {len(names) - _SHOWN_NAMES} more" if len(names) > _SHOWN_NAMES else "")


def _check_rows(n: int, max_rows: int) -> None:
    if n == 0:
        raise SignatureMismatch("the request holds no rows")
    if n > max_rows:
        raise TooManyRows(f"the request holds {n} rows; at most {max_rows} are allowed")


def _field(values: np.ndarray, spec: FieldSpec, declared: str | None, label: str) -> np.ndarray:
    """``values`` cast to ``spec``'s dtype, with its NaN and null policy enforced."""
    if values.dtype.kind == "O":
        out = _coerce_objects(values, spec, label)
    else:
        out = _coerce(values, spec.dtype, declared, label)
    if out.dtype.kind == "f" and out.size and not np.isfinite(out).all():
        if np.isinf(out).any():
            raise SignatureMismatch(f"{label}: infinite or out-of-range values are not accepted")
        if not spec.nullable:
            raise SignatureMismatch(f"{label}: NaN or null is not allowed (the field is not nullable)")
    return out


def _check_matrix_finite(matrix: np.ndarray, specs: Sequence[FieldSpec]) -> None:
    if not matrix.size or np.isfinite(matrix).all():
        return
    inf_columns = np.isinf(matrix).any(axis=0)
    nan_columns = np.isnan(matrix).any(axis=0)
    for j, spec in enumerate(specs):
        if inf_columns[j]:
            raise SignatureMismatch(f"column {spec.name!r}: infinite or out-of-range values are not accepted")
        if nan_columns[j] and not spec.nullable:
            raise SignatureMismatch(f"column {spec.name!r}: NaN or null is not allowed (the field is not nullable)")


def _mismatch(label: str, expected: str, got: str) -> SignatureMismatch:
    return SignatureMismatch(f"{label}: expected {expected}, got {got}")


def to_float(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """``values`` as float ``dtype``, not copied if they already are; overflow gives infinity."""
    if values.dtype == dtype:
        return values
    if dtype.itemsize >= 8:
        return values.astype(dtype)
    # Narrowing can overflow: the result is inf, which validation refuses with a message,
    # so numpy's warning would only be noise in the server log.
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def _coerce(values: np.ndarray, target: str, declared: str | None, label: str) -> np.ndarray:
    """Cast a typed (non-object) array to the signature dtype ``target``, safely."""
    kind = values.dtype.kind
    got = declared or _dtype_label(values.dtype)
    if target in ("string", "bytes"):
        if kind == "U":
            return values.astype(object) if target == "string" else np.char.encode(values, "utf-8").astype(object)
        if kind == "S":
            return values.astype(object) if target == "bytes" else np.char.decode(values, "utf-8").astype(object)
        raise _mismatch(label, target, got)
    if target == "bool":
        if kind != "b":
            raise _mismatch(label, target, got)
        return values
    if kind not in "iuf":
        raise _mismatch(label, target, got)
    dtype = numpy_dtype(target)
    if target in FLOAT_DTYPES:
        return to_float(values, dtype)
    if kind == "f":
        # JSON has one number type: a table row like [3, 0.5] arrives as floats. Whole
        # numbers from an undeclared (JSON) source are still integers; a declared float
        # tensor, or any fraction, is refused.
        if declared is not None or not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise _mismatch(label, target, got)
        info = np.iinfo(dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise SignatureMismatch(f"{label}: values outside the range of {target}")
        return values.astype(dtype)
    if np.can_cast(values.dtype, dtype, "safe"):
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
        raise SignatureMismatch(f"{label}: values outside the range of {target}")
    return values.astype(dtype)


def _coerce_objects(values: np.ndarray, spec: FieldSpec, label: str) -> np.ndarray:
    """Cast an object array (mixed JSON values, strings with nulls) to ``spec``'s dtype."""
    target = spec.dtype
    flat: list[Any] = values.ravel().tolist()
    types = set(map(type, flat))
    if target in ("string", "bytes"):
        native, other = (str, bytes) if target == "string" else (bytes, str)
        if _NONE in types and not spec.nullable:
            raise SignatureMismatch(f"{label}: null is not allowed (the field is not nullable)")
        bad = types - {native, other, _NONE}
        if bad:
            raise _mismatch(label, target, _worst(bad))
        if other not in types:
            return values
        try:
            converted = [_convert_text(v, native) for v in flat]
        except UnicodeDecodeError as exc:
            raise SignatureMismatch(f"{label}: expected UTF-8 text, got undecodable bytes") from exc
        out = np.empty(len(converted), dtype=object)
        out[:] = converted
        return out.reshape(values.shape)
    allowed = {int, float, _NONE} if target in FLOAT_DTYPES else ({bool} if target == "bool" else {int})
    bad = types - allowed
    if bad:
        raise _mismatch(label, target, _worst(bad))
    if target in FLOAT_DTYPES:
        return to_float(values, numpy_dtype(target))
    try:
        typed = np.array(flat).reshape(values.shape)
    except OverflowError as exc:
        raise SignatureMismatch(f"{label}: values outside the range of {target}") from exc
    if typed.dtype.kind == "O":
        raise SignatureMismatch(f"{label}: values outside the range of {target}")
    return _coerce(typed, target, None, label)


def _convert_text(value: Any, native: type) -> Any:
    if value is None or isinstance(value, native):
        return value
    return value.decode("utf-8") if native is str else value.encode("utf-8")


def _worst(types: set[type]) -> str:
    # Name the type that explains the refusal best: text in a number field, then booleans.
    for candidate in (str, bytes, bool, float, _NONE, int):
        if candidate in types:
            return "null" if candidate is _NONE else _TYPE_NAMES[candidate]
    return sorted(t.__name__ for t in types)[0]


def _dtype_label(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "U":
        return "string"
    if dtype.kind == "S":
        return "bytes"
    return dtype.name
