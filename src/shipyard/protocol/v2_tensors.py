"""One V2 tensor object (a request input or a response output) to a numpy array.

A tensor carries its data either as JSON ``data`` (flat row-major or nested to its shape)
or, under the binary extension, as ``parameters.binary_data_size`` bytes taken in order
from the binary section. Either way the data must agree with ``shape`` and ``datatype``
exactly; a disagreement is the caller's framing error, so it is a MalformedRequest.

``decode_column_block`` is the same decoding for the request the metadata advertises, one
tensor per signature column, taken all at once into one table (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest
from shipyard.protocol.bounds import check_shape
from shipyard.protocol.datatypes import V2_TO_SIGNATURE, check_datatype, signature_dtype, wire_dtype
from shipyard.protocol.jsonio import check_fields, holds_bools, infer_array, type_name
from shipyard.protocol.v2_binary import read_tensor
from shipyard.schema.batch import RawInput
from shipyard.schema.signature import FLOAT_DTYPES, Signature
from shipyard.schema.validate import to_float

_TENSOR_FIELDS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_BINARY_FIELDS = frozenset({"name", "shape", "datatype", "parameters"})
_HEADER = itemgetter("name", "datatype", "shape")
_FLOAT_TYPES = frozenset({int, float, type(None)})
BLOCK_DATATYPES = frozenset(name for name, sig in V2_TO_SIGNATURE.items() if sig not in ("bool", "bytes"))
"""The datatypes whose columns can travel together in one numeric block."""


def block_dtype(signature: Signature, datatype: Any) -> str | None:
    """The signature dtype that columns sent as ``datatype`` declare, when all of
    ``signature``'s columns can take them as one numeric block (validation then only casts to
    a float or keeps the dtype); None otherwise."""
    if datatype not in BLOCK_DATATYPES:
        return None
    declared = V2_TO_SIGNATURE[datatype]
    return declared if signature.input_dtypes <= FLOAT_DTYPES | {declared} else None


@dataclass(frozen=True, slots=True)
class DecodedTensor:
    name: str
    array: np.ndarray
    declared_dtype: str
    """Signature dtype name of the wire datatype; JSON BYTES (text) is ``string``."""
    parameters: dict[str, Any]


def decode_tensor(obj: Any, *, what: str, binary: memoryview | None, offset: int) -> tuple[DecodedTensor, int]:
    """The tensor described by ``obj`` and the binary offset after its data."""
    if not isinstance(obj, dict):
        raise MalformedRequest(f"each {what} must be an object, not {type_name(obj)}")
    name = obj.get("name")
    if not isinstance(name, str):
        raise MalformedRequest(f"each {what} needs a string 'name'")
    where = f"{what} {name!r}"
    check_fields(obj, allowed=_TENSOR_FIELDS, what=where)
    shape = check_shape(obj.get("shape"), where)
    datatype = obj.get("datatype")
    if not isinstance(datatype, str):
        raise MalformedRequest(f"{where} needs a string 'datatype'")
    check_datatype(datatype, where=where)
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise MalformedRequest(f"{where}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in obj:
            raise MalformedRequest(f"{where} has neither 'data' nor parameters.binary_data_size")
        array, declared = _json_data(obj["data"], datatype, shape, where)
        return DecodedTensor(name, array, declared, parameters), offset
    if "data" in obj:
        raise MalformedRequest(f"{where} has both 'data' and parameters.binary_data_size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedRequest(f"{where}: binary_data_size must be a non-negative integer")
    if binary is None:
        raise MalformedRequest(
            f"{where} has binary_data_size but the request has no binary section",
            hint="send the Inference-Header-Content-Length header with the JSON header's length",
        )
    array = read_tensor(binary, offset, size, datatype=datatype, shape=shape, where=where)
    return DecodedTensor(name, array, signature_dtype(datatype), parameters), offset + size


def decode_column_block(
    tensors: list[Any], signature: Signature, binary: memoryview | None
) -> tuple[RawInput, ...] | None:
    """One tensor per signature column, shape ``[n]`` (or ``[n, 1]``), with the numeric ones
    of the first numeric tensor's datatype decoded straight into one ``[n, k]`` table in
    signature column order: one numpy call for JSON ``data``, one ``np.frombuffer`` view for
    binary data. The other columns (text, booleans) come after it, one input each.

    This is the form the metadata advertises, so it must cost about what one 2-D tensor
    does. It answers only when the per-tensor path (``decode_tensor``, then validation
    column by column) would accept the same request with the same values; on anything
    unusual it returns None and that path decodes the request and explains what is wrong.
    """
    k = len(signature.inputs)
    if signature.kind != "columns" or len(tensors) != k:
        return None
    table = _uniform_columns(tensors, signature, binary)
    if table is not None:
        return (table,)
    first = next((t for t in tensors if type(t) is dict and t.get("datatype") in BLOCK_DATATYPES), None)
    if first is None:
        return None
    datatype = first["datatype"]
    shape = first.get("shape")
    if type(shape) is not list or not 1 <= len(shape) <= 2:
        return None
    n = shape[0]
    if type(n) is not int or n <= 0 or (len(shape) == 2 and shape[1] != 1):
        return None
    declared = V2_TO_SIGNATURE[datatype]
    # Validation then only casts to a float or keeps the dtype: it cannot refuse a column's
    # type, so no per-column error message is lost by decoding the columns together.
    check_dtypes = not signature.input_dtypes <= FLOAT_DTYPES | {declared}
    size = n * wire_dtype(datatype).itemsize
    index = signature.index
    slots: list[Any] = [None] * k
    order: list[int] = []
    others: list[tuple[Any, int]] = []
    offset = 0
    for tensor in tensors:
        if type(tensor) is not dict or not tensor.keys() <= _TENSOR_FIELDS:
            return None
        # 1 == True == 1.0 in Python: the dimensions' types are checked, not only their values.
        dims = tensor.get("shape")
        if dims != shape or type(dims[0]) is not int or type(dims[-1]) is not int:
            return None
        name = tensor.get("name")
        position = index.get(name) if type(name) is str else None
        if position is None or slots[position] is not None:
            return None
        slots[position] = False
        if tensor.get("datatype") != datatype:
            others.append((tensor, offset))
            if binary is not None:
                # Only its size is needed here, to find where the next tensor starts.
                other = tensor.get("parameters")
                other_size = other.get("binary_data_size") if type(other) is dict else None
                if type(other_size) is not int or other_size < 0:
                    return None
                offset += other_size
            continue
        if check_dtypes and signature.inputs[position].dtype not in FLOAT_DTYPES | {declared}:
            return None
        parameters = tensor.get("parameters")
        if binary is None:
            data = tensor.get("data")
            if parameters or type(data) is not list:
                return None
            slots[position] = data
        else:
            if "data" in tensor or type(parameters) is not dict:
                return None
            given = parameters.get("binary_data_size")
            if type(given) is not int or given != size:
                return None
            slots[position] = offset
            offset += size
        order.append(position)
    if binary is not None and offset != len(binary):
        return None
    if len(order) == k:
        positions: list[int] | range = range(k)
        names = signature.input_names
    else:
        positions = sorted(order)
        names = tuple(signature.inputs[j].name for j in positions)
    if binary is None:
        columns = slots if len(order) == k else [slots[j] for j in positions]
        block = _json_block(columns, datatype, n, nested=len(shape) == 2)
    elif others:
        block = _binary_columns(binary, datatype, n, [slots[j] for j in positions])
    else:
        block = _binary_block(binary, datatype, n, order)
    if block is None:
        return None
    table = RawInput(None, block, column_names=names, declared_dtype=declared)
    rest = [decode_tensor(tensor, what="input", binary=binary, offset=start)[0] for tensor, start in others]
    return (table, *(RawInput(t.name, t.array, declared_dtype=t.declared_dtype) for t in rest))


def _uniform_columns(tensors: list[Any], signature: Signature, binary: memoryview | None) -> RawInput | None:
    """The commonest request of all, every column in one numeric datatype, checked a field
    at a time across all tensors (``map`` and set operations run in C) rather than tensor by
    tensor. None when it is not that request: ``decode_column_block`` then looks at each."""
    fields = _TENSOR_FIELDS if binary is None else _BINARY_FIELDS
    if set(map(type, tensors)) != {dict} or not set().union(*tensors) <= fields:
        return None
    try:
        names, datatypes, shapes = zip(*map(_HEADER, tensors), strict=True)
    except KeyError:
        return None
    datatype = datatypes[0]
    declared = block_dtype(signature, datatype)
    if declared is None or datatypes.count(datatype) != len(tensors):
        return None
    shape = shapes[0]
    if type(shape) is not list or len(shape) != 1 or shapes.count(shape) != len(tensors):
        return None
    # 1 == True == 1.0 in Python: the dimensions' types are checked, not only their values.
    n = shape[0]
    if type(n) is not int or n <= 0 or set(map(type, chain.from_iterable(shapes))) != {int}:
        return None
    index: dict[Any, int] = signature.index
    try:
        positions: list[Any] = list(map(index.get, names))
    except TypeError:  # an unhashable name
        return None
    if None in positions or len(set(positions)) != len(tensors):
        return None
    block = _uniform_json(tensors, positions, datatype, n) if binary is None else None
    if binary is not None:
        parameters: list[Any] = list(map(dict.get, tensors, repeat("parameters")))
        if set(map(type, parameters)) != {dict}:
            return None
        sizes = list(map(dict.get, parameters, repeat("binary_data_size")))
        size = n * wire_dtype(datatype).itemsize
        if sizes.count(size) != len(sizes) or set(map(type, sizes)) != {int}:
            return None
        block = _binary_block(binary, datatype, n, positions)
    return None if block is None else RawInput(None, block, column_names=signature.input_names, declared_dtype=declared)


def _uniform_json(tensors: list[Any], positions: list[int], datatype: str, n: int) -> np.ndarray | None:
    data: list[Any] = list(map(dict.get, tensors, repeat("data")))
    if set(map(type, data)) != {list} or any(map(dict.get, tensors, repeat("parameters"))):
        return None
    if positions != list(range(len(positions))):
        ordered: list[Any] = [None] * len(data)
        for position, values in zip(positions, data, strict=True):
            ordered[position] = values
        data = ordered
    return _json_block(data, datatype, n, nested=False)


_FLOAT_ONLY = {float}


def _json_block(columns: list[Any], datatype: str, n: int, *, nested: bool) -> np.ndarray | None:
    """``columns`` (one JSON list per column) as a ``[n, k]`` array of ``datatype``'s dtype."""
    if not nested and wire_dtype(datatype).kind == "f" and set(map(len, columns)) == {n}:
        # The usual request: every value a JSON float. One flat list of Python floats
        # converts in one pass, and no value can be a boolean (or anything else) in disguise.
        flat = list(chain.from_iterable(columns))
        if set(map(type, flat)) == _FLOAT_ONLY:
            block = np.array(flat, dtype=np.float64).reshape(len(columns), n)
            return to_float(block, wire_dtype(datatype).newbyteorder("=")).T
    try:
        array = np.asarray(columns)
    except (ValueError, TypeError, OverflowError):
        return None
    # Shape [n] takes flat data only; [n, 1] flat data or one-element rows.
    fits = array.shape == (len(columns), n) or (nested and array.shape == (len(columns), n, 1))
    if not fits or array.dtype.kind not in "iuf" or holds_bools(columns, array):
        return None
    array = array.reshape(len(columns), n)
    target = wire_dtype(datatype).newbyteorder("=")
    if target.kind == "f":
        return to_float(array, target).T
    if array.dtype.kind == "f":
        return None
    info = np.iinfo(target)
    if int(array.min()) < info.min or int(array.max()) > info.max:
        return None
    return array.astype(target).T


def _binary_columns(binary: memoryview, datatype: str, n: int, offsets: list[int]) -> np.ndarray:
    """Columns scattered between other tensors' data, gathered into one ``[n, k]`` array."""
    dtype = wire_dtype(datatype)
    out = np.empty((n, len(offsets)), dtype=dtype.newbyteorder("="))
    for j, start in enumerate(offsets):
        out[:, j] = np.frombuffer(binary, dtype=dtype, count=n, offset=start)
    return out


def _binary_block(binary: memoryview, datatype: str, n: int, order: list[int]) -> np.ndarray | None:
    dtype = wire_dtype(datatype)
    k = len(order)
    if len(binary) != n * k * dtype.itemsize:
        return None
    block = np.frombuffer(binary, dtype=dtype).reshape(k, n)
    if order != sorted(order):
        # Tensors came in another order than the signature's: put the rows in its order.
        block = block[np.argsort(order)]
    return block.T


def _json_data(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> tuple[np.ndarray, str]:
    array = infer_array(data, where=f"{where} data")
    count = math.prod(shape)
    if array.size != count:
        raise MalformedRequest(f"{where}: shape {list(shape)} needs {count} values, data holds {array.size}")
    if array.ndim > 1 and array.shape != shape:
        raise MalformedRequest(f"{where}: nested data of shape {list(array.shape)} does not match shape {list(shape)}")
    if count == 0:
        dtype = np.dtype(object) if datatype == "BYTES" else wire_dtype(datatype)
        return np.empty(shape, dtype=dtype), "string" if datatype == "BYTES" else signature_dtype(datatype)
    kind = array.dtype.kind
    types = set(map(type, array.ravel().tolist())) if kind == "O" else set()
    if datatype == "BYTES":
        if kind != "O" or types - {str}:
            raise _wrong(where, datatype, _describe(array, types - {str}))
        return array.reshape(shape), "string"
    target = wire_dtype(datatype).newbyteorder("=")
    if datatype == "BOOL":
        if kind != "b":
            raise _wrong(where, datatype, _describe(array, types))
        return array.reshape(shape), "bool"
    if target.kind == "f":
        # JSON null is NaN in a float tensor; the validator decides whether NaN may pass.
        if kind in "iuf" or (kind == "O" and types <= _FLOAT_TYPES):
            return to_float(array, target).reshape(shape), signature_dtype(datatype)
        raise _wrong(where, datatype, _describe(array, types - _FLOAT_TYPES))
    if kind == "f":
        # numpy falls back to float64 when ints span beyond both the int64 and the uint64
        # range (e.g. [-1, 2**64 - 1]); the originals may still all be integers.
        ints = _ints(data)
        if ints is None:
            raise _wrong(where, datatype, "float")
        array, kind, types = np.array(ints, dtype=object), "O", {int}
    if kind == "O" and types == {int}:
        values = array.ravel().tolist()
        low, high = min(values), max(values)
    elif kind in "iu":
        low, high = int(array.min()), int(array.max())
    else:
        raise _wrong(where, datatype, _describe(array, types - {int}))
    info = np.iinfo(target)
    if low < info.min or high > info.max:
        raise MalformedRequest(f"{where}: values outside the range of {datatype}")
    return array.astype(target).reshape(shape), signature_dtype(datatype)


def _ints(data: Any) -> list[int] | None:
    """The integers in nested ``data``, flattened; None if any value is not an int."""
    flat: list[int] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif type(item) is int:
            flat.append(item)
        else:
            return None
    return flat


def _wrong(where: str, datatype: str, got: str) -> MalformedRequest:
    return MalformedRequest(f"{where}: datatype {datatype} but data holds {got}")


def _describe(array: np.ndarray, types: set[type]) -> str:
    if array.dtype.kind != "O":
        return {"b": "bool", "f": "float", "i": "int", "u": "int"}.get(array.dtype.kind, array.dtype.name)
    for candidate, label in ((str, "string"), (bool, "bool"), (float, "float"), (type(None), "null"), (int, "int")):
        if candidate in types:
            return label
    return "values of other types" if types else "mixed values"
