"""JSON in and out of numpy, shared by every protocol codec.

Parsing is orjson into Python lists, then one ``np.asarray`` call: numpy does the type
discovery and the copy in C. The one thing numpy gets wrong for us is booleans: it turns
``[true, 1.5]`` into ``[1.0, 1.5]`` silently. Checking every element's type would cost a
Python loop per value, so only the values equal to 0 or 1 (found by one vectorized compare)
have their original JSON type looked at.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from shipyard.errors import MalformedRequest, ShipyardError
from shipyard.protocol.bounds import check_dims

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})

JSON_TYPE_NAMES: dict[type, str] = {
    str: "string",
    bool: "bool",
    int: "int",
    float: "float",
    type(None): "null",
    dict: "object",
    list: "array",
    bytes: "bytes",
}


def loads_object(body: bytes | memoryview, *, what: str, nan_tokens: bool = False) -> dict[str, Any]:
    """Parse ``body`` as one JSON object; MalformedRequest if it is not JSON or not an object.

    With ``nan_tokens``, the bare ``NaN``, ``Infinity`` and ``-Infinity`` that tritonclient's
    JSON mode (Python's ``json.dumps``) writes for float values are read as floats. orjson
    refuses them, so only a body orjson refuses and that holds one is parsed again, by
    Python's json module; what the floats may be is then the signature's to say.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        value = _loads_with_nan_tokens(body) if nan_tokens else None
        if value is None:
            raise MalformedRequest(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedRequest(f"{what} must be a JSON object, not {type_name(value)}")
    return value


def _loads_with_nan_tokens(body: bytes | memoryview) -> Any:
    data = bytes(body)
    if b"NaN" not in data and b"Infinity" not in data:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def dumps(obj: Any) -> bytes:
    """Serialize a response; numpy arrays inside must come from ``json_array``."""
    try:
        return orjson.dumps(obj, option=_DUMP_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise ShipyardError(f"cannot encode the response as JSON: {exc}") from exc


def type_name(value: Any) -> str:
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def check_fields(obj: dict[str, Any], *, allowed: frozenset[str], what: str) -> None:
    """Refuse keys outside ``allowed``, naming them (a typo should not be silently ignored)."""
    extra = obj.keys() - allowed
    if extra:
        names = ", ".join(repr(k) for k in sorted(extra)[:5])
        raise MalformedRequest(f"unknown field(s) {names} in {what}", hint=f"allowed: {', '.join(sorted(allowed))}")


def infer_array(data: Any, *, where: str) -> np.ndarray:
    """A numpy array holding JSON ``data`` (nested lists) with the types the JSON had.

    Numbers become int64/uint64/float64, all-boolean data bool, strings an object array of
    ``str``. Anything numpy would coerce lossily (strings mixed with numbers, booleans mixed
    with numbers, null) stays an object array of the original values, for the validator to
    explain. Ragged nesting is a MalformedRequest.
    """
    if not isinstance(data, list):
        raise MalformedRequest(f"{where} must be an array, not {type_name(data)}")
    mixed = _mixed_rows(data)
    if mixed is not None:
        return mixed
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise MalformedRequest(f"{where} is ragged or nested too deep: rows or nested lists differ in length") from exc
    check_dims(array.ndim, where)
    kind = array.dtype.kind
    if kind == "U":
        # numpy stringifies numbers mixed with strings; keep the originals instead.
        return _object_array(data, array.shape)
    if kind in "iuf" and array.size and holds_bools(data, array):
        return _object_array(data, array.shape)
    return array


def _mixed_rows(data: list[Any]) -> np.ndarray | None:
    """Rows mixing text and numbers (a mixed-type table) as an object array, built directly:
    numpy would first turn every value into a string (``np.asarray`` finds a common type),
    at many times the cost, only for ``infer_array`` to go back to the originals."""
    first = data[0] if data else None
    if type(first) is not list or not first:
        return None
    kinds = set(map(type, first))
    if str not in kinds or len(kinds) == 1:
        return None
    width = len(first)
    if any(type(row) is not list for row in data) or set(map(len, data)) != {width}:
        return None
    out = np.empty((len(data), width), dtype=object)
    out[...] = data
    # Nested arrays or objects inside a row: numpy's own pass explains those.
    if not set(map(type, out.ravel().tolist())) <= _SCALAR_TYPES:
        return None
    return out


def holds_bools(data: list[Any], array: np.ndarray) -> bool:
    """Whether ``array`` (``np.asarray(data)``, numeric) turned JSON true/false into 1/0."""
    # Only the positions holding 0 or 1 can be booleans in disguise.
    candidates = np.flatnonzero((array == 0) | (array == 1))
    if not candidates.size:
        return False
    if array.ndim == 1:
        return any(type(data[i]) is bool for i in candidates.tolist())
    for position in zip(*np.unravel_index(candidates, array.shape), strict=True):
        item: Any = data
        for index in position:
            item = item[index]
        if type(item) is bool:
            return True
    return False


def _object_array(data: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    # np.asarray(dtype=object) would keep inner lists as objects if it guessed the depth
    # wrong; building at the shape numpy already discovered avoids that.
    out = np.empty(shape, dtype=object)
    out[...] = data
    return out


def json_array(array: np.ndarray, *, name: str, flat: bool) -> Any:
    """An output array in a form orjson serializes: a C-contiguous native-endian numeric
    array (orjson's numpy path), or a list for strings and bytes.

    ``flat`` gives the row-major flattening V2 ``data`` uses; otherwise nesting is kept.
    """
    kind = array.dtype.kind
    if kind in "OUS":
        values = array.ravel() if flat else array
        if kind == "S":
            return np.char.decode(values, "utf-8").tolist() if values.size else values.tolist()
        out = values.tolist()
        if kind == "O" and values.size and bytes in set(map(type, values.ravel().tolist())):
            out = _decode_bytes(out, name=name)
        return out
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    array = np.ascontiguousarray(array)
    return array.reshape(-1) if flat else array


def _decode_bytes(values: Any, *, name: str) -> Any:
    if isinstance(values, list):
        return [_decode_bytes(v, name=name) for v in values]
    if isinstance(values, bytes):
        try:
            return values.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedRequest(
                f"output {name!r} holds bytes that are not UTF-8 and cannot be sent as JSON",
                hint="ask for it as binary data",
            ) from exc
    return values


def media_type(content_type: str | None) -> str | None:
    """The lower-cased media type of a Content-Type header value, parameters dropped."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def primary_output(outputs: dict[str, np.ndarray]) -> tuple[str, np.ndarray]:
    """The first output: protocols with a single ``predictions`` field answer with it."""
    for name, array in outputs.items():
        return name, array
    raise ShipyardError("the model returned no outputs")
