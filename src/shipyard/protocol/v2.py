"""Open Inference Protocol (KServe V2) ``/infer``: request decoding, response encoding.

Requests are JSON, or with ``Inference-Header-Content-Length`` a JSON header followed by
binary tensor data (``v2_binary``). Responses are JSON unless an output is asked for as
binary, per output (``outputs[].parameters.binary_data``) or for all of them
(``parameters.binary_data_output``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest, SignatureMismatch, UnsupportedMediaType
from shipyard.protocol import bounds
from shipyard.protocol.datatypes import v2_datatype
from shipyard.protocol.jsonio import (
    check_fields,
    dumps,
    json_array,
    loads_object,
    media_type,
    type_name,
)
from shipyard.protocol.v2_binary import tensor_bytes
from shipyard.protocol.v2_metadata import encode_model_metadata, encode_server_metadata
from shipyard.protocol.v2_tensors import decode_column_block, decode_tensor
from shipyard.schema.batch import Outputs, RawInput, RawInputs
from shipyard.schema.signature import Signature

__all__ = [
    "HEADER_LENGTH",
    "RequestedOutput",
    "V2InferRequest",
    "V2InferResponse",
    "decode_infer_request",
    "decode_infer_response",
    "encode_infer_response",
    "encode_model_metadata",
    "encode_server_metadata",
    "split_body",
]

HEADER_LENGTH = "Inference-Header-Content-Length"

# model_name/model_version are not in the spec's request schema, but the binary extension's
# own example sends model_name, so clients copying it must not be refused.
_REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_RESPONSE_FIELDS = frozenset({"id", "parameters", "outputs", "model_name", "model_version"})
_OUTPUT_FIELDS = frozenset({"name", "parameters"})
# tritonclient sends no Content-Type; curl -d sends form-urlencoded. Both bodies are JSON.
_MEDIA_TYPES = frozenset({"application/json", "application/octet-stream", "application/x-www-form-urlencoded"})


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary_data: bool | None = None
    """True/False if the caller said so for this output; None follows ``binary_data_output``."""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class V2InferRequest:
    id: str | None
    parameters: Mapping[str, Any]
    inputs: RawInputs
    outputs: tuple[RequestedOutput, ...]
    """The outputs asked for, in order; empty means all of the model's outputs."""
    binary_data_output: bool
    """``parameters.binary_data_output``: outputs are binary unless an output says otherwise."""


@dataclass(frozen=True, slots=True)
class V2InferResponse:
    model_name: str
    model_version: str | None
    id: str | None
    parameters: Mapping[str, Any]
    outputs: dict[str, np.ndarray]


def decode_infer_request(
    body: bytes,
    *,
    content_type: str | None,
    header_length: int | None,
    signature: Signature | None = None,
    max_rows: int | None = None,
) -> V2InferRequest:
    """Decode an ``/infer`` body; ``header_length`` is the Inference-Header-Content-Length.

    With ``max_rows``, a JSON header holding more values than ``max_rows`` rows of
    ``signature`` can is refused before it is parsed (``bounds.check_json_values``).
    """
    _check_media_type(content_type)
    header, binary = split_body(body, header_length)
    bounds.check_json_values(header, signature, max_rows=max_rows)
    obj = loads_object(header, what="the inference request", nan_tokens=True)
    check_fields(obj, allowed=_REQUEST_FIELDS, what="the inference request")
    request_id = obj.get("id")
    if request_id is not None:
        if not isinstance(request_id, str):
            raise MalformedRequest(f"'id' must be a string, not {type_name(request_id)}")
        bounds.check_text(request_id, "'id'")
    parameters = _parameters(obj, "the inference request")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise MalformedRequest("parameters.binary_data_output must be true or false")
    raw_inputs = obj.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise MalformedRequest("the inference request needs a non-empty 'inputs' array")
    if binary is not None:
        bounds.check_declared_elements(raw_inputs, signature, max_rows=max_rows)
    block = decode_column_block(raw_inputs, signature, binary) if signature is not None else None
    items = block if block is not None else _decode_inputs(raw_inputs, binary)
    return V2InferRequest(
        id=request_id,
        parameters=parameters,
        inputs=RawInputs(items=items, parameters=parameters),
        outputs=_requested_outputs(obj.get("outputs")),
        binary_data_output=binary_output,
    )


def _decode_inputs(raw_inputs: list[Any], binary: memoryview | None) -> tuple[RawInput, ...]:
    items: list[RawInput] = []
    seen: set[str] = set()
    offset = 0
    for raw in raw_inputs:
        tensor, offset = decode_tensor(raw, what="input", binary=binary, offset=offset)
        if tensor.name in seen:
            raise MalformedRequest(f"input {tensor.name!r} is given twice")
        seen.add(tensor.name)
        items.append(RawInput(tensor.name, tensor.array, declared_dtype=tensor.declared_dtype))
    _check_consumed(binary, offset)
    return tuple(items)


def split_body(body: bytes, header_length: int | None) -> tuple[memoryview, memoryview | None]:
    """The JSON header and the binary section (None without the binary extension)."""
    view = memoryview(body)
    if header_length is None:
        return view, None
    if header_length <= 0 or header_length > len(body):
        raise MalformedRequest(
            f"{HEADER_LENGTH} is {header_length} but the body has {len(body)} bytes",
            hint="it must be the length of the JSON header at the start of the body",
        )
    return view[:header_length], view[header_length:]


def _check_media_type(content_type: str | None) -> None:
    kind = media_type(content_type)
    if kind is not None and kind not in _MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"content type {kind!r} is not accepted here",
            hint="send application/json (or no Content-Type), or binary data with " + HEADER_LENGTH,
        )


def _parameters(obj: dict[str, Any], what: str) -> dict[str, Any]:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise MalformedRequest(f"'parameters' of {what} must be an object")
    return parameters


def _check_consumed(binary: memoryview | None, offset: int) -> None:
    if binary is not None and offset != len(binary):
        raise MalformedRequest(f"{len(binary) - offset} bytes of binary data follow the last binary tensor")


def _requested_outputs(value: Any) -> tuple[RequestedOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedRequest("'outputs' must be an array")
    out: list[RequestedOutput] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise MalformedRequest("each requested output must be an object with a string 'name'")
        name = item["name"]
        check_fields(item, allowed=_OUTPUT_FIELDS, what=f"requested output {name!r}")
        parameters = _parameters(item, f"requested output {name!r}")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise MalformedRequest(f"requested output {name!r}: binary_data must be true or false")
        if any(o.name == name for o in out):
            raise MalformedRequest(f"output {name!r} is requested twice")
        out.append(RequestedOutput(name, binary, parameters))
    return tuple(out)


def encode_infer_response(
    *,
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Outputs,
    requested: Sequence[RequestedOutput] = (),
    binary_default: bool = False,
    parameters: Mapping[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The response body and the headers it needs (binary framing when any output is binary).

    ``requested`` picks and orders outputs (empty: all, in the model's order); each is
    binary if it says so, else if ``binary_default`` (the request's binary_data_output).
    """
    chosen = requested or tuple(RequestedOutput(name) for name in outputs)
    entries: list[dict[str, Any]] = []
    chunks: list[bytes | memoryview] = []
    for want in chosen:
        array = outputs.get(want.name)
        if array is None:
            available = ", ".join(repr(n) for n in list(outputs)[:10])
            raise SignatureMismatch(f"the model has no output {want.name!r}", hint=f"outputs: {available}")
        datatype = v2_datatype(array.dtype, name=want.name)
        entry: dict[str, Any] = {"name": want.name, "datatype": datatype, "shape": list(array.shape)}
        if want.binary_data if want.binary_data is not None else binary_default:
            chunk = tensor_bytes(array, datatype=datatype)
            entry["parameters"] = {"binary_data_size": len(chunk) if isinstance(chunk, bytes) else chunk.nbytes}
            chunks.append(chunk)
        else:
            entry["data"] = json_array(array, name=want.name, flat=True)
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = model_version
    if request_id is not None:
        response["id"] = request_id
    if parameters:
        response["parameters"] = dict(parameters)
    response["outputs"] = entries
    header = dumps(response)
    if not chunks:
        return header, {"Content-Type": "application/json"}
    body = b"".join([header, *chunks])
    return body, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def decode_infer_response(body: bytes, *, header_length: int | None) -> V2InferResponse:
    """Decode an ``/infer`` response (JSON or binary framed) into arrays: for clients and tests."""
    header, binary = split_body(body, header_length)
    obj = loads_object(header, what="the inference response")
    check_fields(obj, allowed=_RESPONSE_FIELDS, what="the inference response")
    raw_outputs = obj.get("outputs")
    if not isinstance(raw_outputs, list) or not isinstance(obj.get("model_name"), str):
        raise MalformedRequest("the inference response needs 'model_name' and an 'outputs' array")
    outputs: dict[str, np.ndarray] = {}
    offset = 0
    for raw in raw_outputs:
        tensor, offset = decode_tensor(raw, what="output", binary=binary, offset=offset)
        outputs[tensor.name] = tensor.array
    _check_consumed(binary, offset)
    return V2InferResponse(
        model_name=obj["model_name"],
        model_version=obj.get("model_version"),
        id=obj.get("id"),
        parameters=_parameters(obj, "the inference response"),
        outputs=outputs,
    )
