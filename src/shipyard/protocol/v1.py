"""KServe V1 (TensorFlow Serving style) ``:predict``: ``instances`` or ``inputs`` in,
``predictions`` out.

``instances``: a list of rows (lists give one unnamed 2-D input, records one input per key).
``inputs``: the same, or a dict of named columns/tensors (``{"a": [...], "b": [...]}``).
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import MalformedRequest, UnsupportedMediaType
from shipyard.protocol import bounds
from shipyard.protocol.jsonio import (
    check_fields,
    dumps,
    json_array,
    loads_object,
    media_type,
    primary_output,
)
from shipyard.protocol.tables import decode_column_dict, decode_rows
from shipyard.schema.batch import Outputs, RawInputs
from shipyard.schema.signature import Signature

_FIELDS = frozenset({"instances", "inputs"})
# No Content-Type and curl's default form type are JSON bodies sent carelessly, not CSV.
_MEDIA_TYPES = frozenset({None, "application/json", "application/x-www-form-urlencoded"})


def decode_v1_request(
    body: bytes, *, content_type: str | None = None, signature: Signature | None = None, max_rows: int | None = None
) -> RawInputs:
    """Decode a V1 ``:predict`` body into RawInputs (with ``max_rows``, pre-scanned first:
    ``bounds.check_json_values``)."""
    if media_type(content_type) not in _MEDIA_TYPES:
        raise UnsupportedMediaType(f"content type {media_type(content_type)!r} is not accepted here", hint="send JSON")
    bounds.check_json_values(body, signature, max_rows=max_rows)
    obj = loads_object(body, what="the request")
    check_fields(obj, allowed=_FIELDS, what="the request")
    if len(obj) != 1:
        raise MalformedRequest("the request needs exactly one of 'instances' or 'inputs'")
    key, value = next(iter(obj.items()))
    if key == "inputs" and isinstance(value, dict):
        return RawInputs(items=decode_column_dict(value, where="'inputs'", signature=signature))
    return RawInputs(items=decode_rows(value, where=f"{key!r}", signature=signature))


def encode_v1_response(outputs: Outputs) -> bytes:
    """``{"predictions": [...]}`` from the model's primary (first) output, one entry per row."""
    name, array = primary_output(outputs)
    body: dict[str, Any] = {"predictions": json_array(array, name=name, flat=False)}
    return dumps(body)
