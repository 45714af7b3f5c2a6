"""The MLflow scoring protocol (``POST /invocations``, as MLflow 2 and 3 serve it).

JSON bodies hold exactly one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs``, and optionally ``params`` (a dict handed to the model). ``text/csv`` bodies are
a header row and data rows (``mlflow_csv``). The answer is ``{"predictions": ...}``.
"""

from __future__ import annotations

import codecs

from shipyard.errors import MalformedRequest, UnsupportedMediaType
from shipyard.protocol import bounds
from shipyard.protocol.jsonio import (
    check_fields,
    dumps,
    json_array,
    loads_object,
    media_type,
    primary_output,
    type_name,
)
from shipyard.protocol.mlflow_csv import decode_csv
from shipyard.protocol.tables import decode_column_dict, decode_records, decode_rows, decode_split
from shipyard.schema.batch import Outputs, RawInput, RawInputs
from shipyard.schema.signature import Signature

ACCEPTED_MEDIA_TYPES = ("application/json", "text/csv")
_INPUT_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_FIELDS = frozenset({*_INPUT_FIELDS, "params"})
# orjson reads UTF-8 only; ASCII is a subset of it.
_JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def decode_mlflow_request(
    body: bytes, *, content_type: str | None, signature: Signature | None = None, max_rows: int | None = None
) -> RawInputs:
    """Decode an ``/invocations`` body; ``signature`` types CSV columns (JSON carries its own types).

    With ``max_rows``, a body holding more rows or values than the model takes is refused
    before it is parsed (``bounds``).
    """
    kind = media_type(content_type)
    charset = _charset(content_type)
    if kind == "text/csv":
        encoding = _text_encoding(charset or "utf-8")
        bounds.check_csv(body, signature, max_rows=max_rows)
        return decode_csv(body, charset=encoding, signature=signature)
    if kind != "application/json":
        shown = "no Content-Type" if kind is None else f"content type {kind!r}"
        raise UnsupportedMediaType(f"{shown} is not accepted", hint=f"send one of {', '.join(ACCEPTED_MEDIA_TYPES)}")
    if charset is not None and charset not in _JSON_CHARSETS:
        raise UnsupportedMediaType(f"charset {charset[:40]!r} is not accepted for JSON", hint="send UTF-8")
    bounds.check_json_values(body, signature, max_rows=max_rows)
    return _decode_json(body, signature)


def _text_encoding(charset: str) -> str:
    """The codec name for a CSV body's charset; 415 for names Python does not know as a text
    encoding (``undefined`` is a codec that fails on every use; ``base64`` is not text)."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError) as exc:
        raise UnsupportedMediaType(f"unknown charset {charset[:40]!r}", hint="send UTF-8") from exc
    if info.name == "undefined" or not getattr(info, "_is_text_encoding", True):
        raise UnsupportedMediaType(f"charset {charset[:40]!r} is not a text encoding", hint="send UTF-8")
    return info.name


def _decode_json(body: bytes, signature: Signature | None) -> RawInputs:
    obj = loads_object(body, what="the request")
    check_fields(obj, allowed=_FIELDS, what="the request")
    given = [key for key in _INPUT_FIELDS if key in obj]
    if len(given) != 1:
        found = f" (got {', '.join(given)})" if given else ""
        raise MalformedRequest(f"the request needs exactly one of {', '.join(_INPUT_FIELDS)}{found}")
    params = obj.get("params", {})
    if not isinstance(params, dict):
        raise MalformedRequest(f"'params' must be an object, not {type_name(params)}")
    key = given[0]
    value = obj[key]
    where = repr(key)
    items: tuple[RawInput, ...]
    if key == "dataframe_split":
        items = (decode_split(value, where=where),)
    elif key == "dataframe_records":
        items = decode_records(value, where=where, signature=signature)
    elif key == "inputs" and isinstance(value, dict):
        items = decode_column_dict(value, where=where, signature=signature)
    else:
        items = decode_rows(value, where=where, signature=signature)
    return RawInputs(items=items, parameters=params)


def _charset(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def encode_mlflow_response(outputs: Outputs) -> bytes:
    """``{"predictions": [...]}`` from the primary (first) output, as MLflow answers.

    An MLflow-served scikit-learn model answers with what ``predict`` returns; a Shipyard
    classifier's first output is ``predict`` too, so clients written for MLflow get the
    same body. The other outputs (``predict_proba``) are available through V2.
    """
    name, array = primary_output(outputs)
    return dumps({"predictions": json_array(array, name=name, flat=False)})
