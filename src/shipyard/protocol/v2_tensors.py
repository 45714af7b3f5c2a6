"""One V2 tensor object (a request input or a response output) to a numpy array.

A tensor carries its data either as JSON ``data`` (flat row-major or nested to its shape)
or, under the binary extension, as ``parameters.binary_data_size`` bytes taken in order
from the binary section. Either way the data must agree with ``shape`` and ``datatype``
exactly; a disagreement is the caller's framing error, so it is a MalformedRequest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest
from shipyard.protocol.bounds import check_shape
from shipyard.protocol.datatypes import check_datatype, signature_dtype, wire_dtype
from shipyard.protocol.jsonio import check_fields, infer_array, type_name
from shipyard.protocol.v2_binary import read_tensor
from shipyard.schema.validate import to_float

_TENSOR_FIELDS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_FLOAT_TYPES = frozenset({int, float, type(None)})


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
