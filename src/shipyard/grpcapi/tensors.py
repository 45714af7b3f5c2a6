"""``ModelInferRequest`` → raw inputs, outputs → ``ModelInferResponse``: the gRPC wire form of V2.

A request carries each input's data either typed (``contents``, one repeated field per
datatype family) or raw (``raw_input_contents[i]`` for input ``i``, laid out as the binary
tensor data extension lays it out: little-endian, row-major, BYTES length-prefixed). A
request uses one form for all its inputs, as the protocol says.

The answer mirrors the request: raw in, raw out (what Triton answers, and the only form
tritonclient reads for numbers); typed in, typed out, unless an output has no typed field
(FP16), then every output is raw. Every count and size is checked against the declared shape
before an array is built; disagreements are the caller's framing errors (``MalformedRequest``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from tritonclient.grpc import service_pb2 as pb

from shipyard.errors import MalformedRequest, SignatureMismatch
from shipyard.protocol.bounds import MAX_ELEMENTS, check_shape, check_text
from shipyard.protocol.datatypes import V2_TO_SIGNATURE, check_datatype, element_size, v2_datatype, wire_dtype
from shipyard.protocol.v2_binary import read_tensor, tensor_bytes
from shipyard.protocol.v2_tensors import block_dtype
from shipyard.schema.batch import Outputs, RawInput, RawInputs
from shipyard.schema.signature import Signature

CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""The ``InferTensorContents`` field that carries each datatype; FP16 has none (raw only)."""

_FIELDS = tuple(dict.fromkeys(CONTENTS_FIELD.values()))
# Narrow integer types travel in a wider field: their values must still fit.
_NARROW = frozenset({"INT8", "INT16", "UINT8", "UINT16"})


@dataclass(frozen=True, slots=True)
class GrpcInferRequest:
    id: str
    inputs: RawInputs
    outputs: tuple[str, ...]
    """The outputs asked for, in order; empty means all of the model's outputs."""
    raw: bool
    """The inputs came as ``raw_input_contents`` (so the outputs go back raw)."""


def decode_infer_request(request: pb.ModelInferRequest, signature: Signature | None = None) -> GrpcInferRequest:
    """The raw inputs, requested outputs and id of ``request``; with the ``signature`` of the
    version that will answer, the usual request (one raw numeric tensor per column) becomes
    one block, as over HTTP."""
    if request.id:
        check_text(request.id, "'id'")
    if not request.inputs:
        raise MalformedRequest("the inference request needs at least one input")
    raws = request.raw_input_contents
    if raws and len(raws) != len(request.inputs):
        raise MalformedRequest(
            f"the request has {len(request.inputs)} inputs but {len(raws)} raw_input_contents",
            hint="send raw contents for every input (in input order), or typed contents for every input",
        )
    parameters = parameter_values(request.parameters, "the inference request") if request.parameters else {}
    block = _column_block(request, signature) if raws and signature is not None else None
    if block is not None:
        return GrpcInferRequest(
            id=request.id,
            inputs=RawInputs(items=(block,), parameters=parameters),
            outputs=_requested(request.outputs),
            raw=True,
        )
    items: list[RawInput] = []
    seen: set[str] = set()
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if not name:
            raise MalformedRequest(f"input {index} needs a name")
        if name in seen:
            raise MalformedRequest(f"input {name!r} is given twice")
        seen.add(name)
        datatype = tensor.datatype
        if datatype not in V2_TO_SIGNATURE:
            check_datatype(datatype, where=f"input {name!r}")
        shape = tuple(tensor.shape)
        if len(shape) != 1 or not 0 <= shape[0] <= MAX_ELEMENTS:
            shape = check_shape(list(shape), f"input {name!r}")
        if raws:
            if tensor.HasField("contents") and _filled(tensor.contents):
                raise MalformedRequest(f"input {name!r} has typed contents in a request that uses raw_input_contents")
            array = _raw(raws[index], datatype, shape, name)
        else:
            array = _typed(tensor.contents, datatype, shape, f"input {name!r}")
        items.append(RawInput(name, array, declared_dtype=V2_TO_SIGNATURE[datatype]))
    return GrpcInferRequest(
        id=request.id,
        inputs=RawInputs(items=tuple(items), parameters=parameters),
        outputs=_requested(request.outputs),
        raw=bool(raws),
    )


def encode_infer_response(
    *,
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Outputs,
    requested: Iterable[str] = (),
    raw: bool = True,
    parameters: Mapping[str, Any] | None = None,
) -> pb.ModelInferResponse:
    """The response carrying ``outputs`` (those ``requested``, in that order; else all)."""
    chosen = tuple(requested) or tuple(outputs)
    arrays: list[tuple[str, np.ndarray, str]] = []
    for name in chosen:
        array = outputs.get(name)
        if array is None:
            available = ", ".join(repr(n) for n in list(outputs)[:10])
            raise SignatureMismatch(f"the model has no output {name!r}", hint=f"outputs: {available}")
        arrays.append((name, array, v2_datatype(array.dtype, name=name)))
    raw = raw or any(datatype not in CONTENTS_FIELD for _, _, datatype in arrays)
    response = pb.ModelInferResponse(model_name=model_name, model_version=model_version, id=request_id)
    if parameters:
        set_parameters(response.parameters, parameters)
    for name, array, datatype in arrays:
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            response.raw_output_contents.append(bytes(tensor_bytes(array, datatype=datatype)))
        else:
            _fill(tensor.contents, array, datatype)
    return response


def parameter_values(parameters: Mapping[str, pb.InferParameter], what: str) -> dict[str, Any]:
    """``InferParameter`` values as plain Python values (an unset one is refused)."""
    out: dict[str, Any] = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        if choice is None:
            raise MalformedRequest(f"parameter {key[:60]!r} of {what} has no value")
        out[key] = getattr(value, choice)
    return out


def set_parameters(target: Any, values: Mapping[str, Any]) -> None:
    """Fill a protobuf ``map<string, InferParameter>`` from plain values (None is skipped)."""
    for key, value in values.items():
        if value is None:
            continue
        parameter = target[key]
        if isinstance(value, bool):
            parameter.bool_param = value
        elif isinstance(value, int):
            parameter.int64_param = value
        elif isinstance(value, float):
            parameter.double_param = value
        else:
            parameter.string_param = str(value)


def _requested(outputs: Iterable[pb.ModelInferRequest.InferRequestedOutputTensor]) -> tuple[str, ...]:
    names: list[str] = []
    for output in outputs:
        if not output.name:
            raise MalformedRequest("each requested output needs a name")
        if output.name in names:
            raise MalformedRequest(f"output {output.name!r} is requested twice")
        names.append(output.name)
    return tuple(names)


def _column_block(request: pb.ModelInferRequest, signature: Signature) -> RawInput | None:
    """The inputs of ``request`` as one ``[n, k]`` block when they are the commonest request of
    all: one raw tensor of shape ``[n]`` per signature column, every one in the same numeric
    datatype, each of the right size. None for anything else: the tensor-by-tensor path then
    decodes the request and explains what is wrong. A block is accepted only when that path
    would accept the same request with the same values (``v2_tensors.decode_column_block``)."""
    tensors = request.inputs
    k = len(signature.inputs)
    if signature.kind != "columns" or len(tensors) != k:
        return None
    datatype = tensors[0].datatype
    declared = block_dtype(signature, datatype)
    if declared is None:
        return None
    index = signature.index
    n = -1
    size = 0
    ordered: list[bytes] = [b""] * k
    seen = 0
    for tensor, raw in zip(tensors, request.raw_input_contents, strict=True):
        if tensor.datatype != datatype or tensor.parameters or tensor.HasField("contents"):
            return None
        shape = tensor.shape
        if len(shape) != 1:
            return None
        if n < 0:
            n = shape[0]
            if not 0 < n <= MAX_ELEMENTS:
                return None
            size = n * wire_dtype(datatype).itemsize
        elif shape[0] != n:
            return None
        position = index.get(tensor.name)
        if position is None or ordered[position] or len(raw) != size:
            return None
        ordered[position] = raw
        seen += 1
    if seen != k:
        return None
    block = np.frombuffer(b"".join(ordered), dtype=wire_dtype(datatype)).reshape(k, n).T
    return RawInput(None, block, column_names=signature.input_names, declared_dtype=declared)


def _raw(raw: bytes, datatype: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    # The usual case (a fixed-size datatype whose size is right) in a few calls: this runs once
    # per input per request. Everything else, errors included, goes through ``read_tensor``.
    itemsize = element_size(datatype)
    count = shape[0] if len(shape) == 1 else math.prod(shape)
    if itemsize is None or datatype == "BOOL" or count == 0 or len(raw) != count * itemsize:
        return read_tensor(memoryview(raw), 0, len(raw), datatype=datatype, shape=shape, where=f"input {name!r}")
    array = np.frombuffer(raw, dtype=wire_dtype(datatype))
    return array if len(shape) == 1 else array.reshape(shape)


def _filled(contents: pb.InferTensorContents) -> bool:
    return any(len(getattr(contents, field)) for field in _FIELDS)


def _typed(contents: pb.InferTensorContents, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise MalformedRequest(
            f"{where}: datatype {datatype} has no typed contents field", hint="send it as raw_input_contents"
        )
    values = getattr(contents, field)
    count = math.prod(shape)
    if len(values) != count:
        others = [f for f in _FIELDS if f != field and len(getattr(contents, f))]
        if not values and others:
            raise MalformedRequest(f"{where}: datatype {datatype} takes {field}, but the data is in {others[0]}")
        raise MalformedRequest(f"{where}: shape {list(shape)} needs {count} values, {field} holds {len(values)}")
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    if datatype in _NARROW:
        wide = np.array(values, dtype=np.int64)
        info = np.iinfo(wire_dtype(datatype))
        if count and (int(wide.min()) < info.min or int(wide.max()) > info.max):
            raise MalformedRequest(f"{where}: values outside the range of {datatype}")
        return wide.astype(wire_dtype(datatype).newbyteorder("=")).reshape(shape)
    return np.array(values, dtype=wire_dtype(datatype).newbyteorder("=")).reshape(shape)


def _fill(contents: pb.InferTensorContents, array: np.ndarray, datatype: str) -> None:
    values = getattr(contents, CONTENTS_FIELD[datatype])
    flat = array.ravel()
    if datatype == "BYTES":
        values.extend(v if isinstance(v, bytes) else str(v).encode("utf-8") for v in flat.tolist())
    else:
        values.extend(flat.tolist())
