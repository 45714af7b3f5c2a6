"""One raw tensor per column over gRPC becomes one block, exactly as the tensor-by-tensor path
would decode and validate the same request: the same batch, or the same error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb

from shipyard.errors import ShipyardError
from shipyard.grpcapi.tensors import decode_infer_request
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

FLOATS = Signature(
    "columns", (FieldSpec("a", "float64"), FieldSpec("b", "float32"), FieldSpec("c", "float64", nullable=True))
)
INTS = Signature("columns", (FieldSpec("a", "int64"), FieldSpec("b", "float64")))
MIXED = Signature("columns", (FieldSpec("a", "float64"), FieldSpec("t", "string")))
WIRE = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4", "UINT8": "u1"}


def _request(*tensors: tuple[str, str, list[int], Any], **extra: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    for name, datatype, shape, values in tensors:
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        if extra.get("parameters") == name:
            tensor.parameters["x"].int64_param = 1
        if extra.get("typed") == name:
            tensor.contents.fp64_contents.extend([1.0])
        raw = values if isinstance(values, bytes) else np.asarray(values, dtype=WIRE[datatype]).tobytes()
        request.raw_input_contents.append(raw)
    return request


def _cols(datatype: str = "FP64", **columns: list[Any]) -> pb.ModelInferRequest:
    return _request(*((name, datatype, [len(v)], v) for name, v in columns.items()))


CASES: dict[str, tuple[Signature, pb.ModelInferRequest]] = {
    "floats": (FLOATS, _cols(a=[1.5, 2], b=[3, 4], c=[0.5, 1e300])),
    "reordered": (FLOATS, _cols(c=[0.5, 1], a=[1.5, 2], b=[3, 4])),
    "fp32": (FLOATS, _cols("FP32", a=[1.5, 2], b=[3, 4], c=[5, 6])),
    "ints-declared": (FLOATS, _cols("INT64", a=[1, 2], b=[3, 4], c=[5, 6])),
    "int-signature": (INTS, _cols("INT64", a=[1, 2], b=[3, 4])),
    "int-signature-float-data": (INTS, _cols(a=[1.0, 2.0], b=[3.0, 4.0])),
    "int32-into-int64": (INTS, _cols("INT32", a=[1, 2], b=[3, 4])),
    "nan-not-nullable": (FLOATS, _cols(a=[float("nan"), 2], b=[3, 4], c=[5, 6])),
    "nan-nullable": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[float("nan"), 6])),
    "float32-overflow": (FLOATS, _cols(a=[1, 2], b=[1e300, 4], c=[5, 6])),
    "missing-column": (FLOATS, _cols(a=[1, 2], b=[3, 4])),
    "extra-column": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[5, 6], d=[7, 8])),
    "twice": (FLOATS, _request(("a", "FP64", [1], [1]), ("a", "FP64", [1], [1]), ("b", "FP64", [1], [1]))),
    "datatypes-differ": (FLOATS, _request(("a", "FP32", [1], [1]), ("b", "FP64", [1], [1]), ("c", "FP64", [1], [1]))),
    "lengths-differ": (FLOATS, _cols(a=[1, 2], b=[3, 4], c=[5])),
    "short-raw": (FLOATS, _request(("a", "FP64", [1], [1]), ("b", "FP64", [1], b"\0" * 4), ("c", "FP64", [1], [1]))),
    "shape-lies": (FLOATS, _request(*((n, "FP64", [2], [1]) for n in "abc"))),
    "shape-n-1": (FLOATS, _request(*((n, "FP64", [2, 1], [1, 2]) for n in "abc"))),
    "no-rows": (FLOATS, _request(*((n, "FP64", [0], []) for n in "abc"))),
    "unknown-datatype": (FLOATS, _request(*((n, "FP64", [1], [1]) for n in "ab"), ("c", "FP128", [1], b"\0" * 16))),
    "parameters": (FLOATS, _request(*((n, "FP64", [1], [1]) for n in "abc"), parameters="b")),
    "typed-beside-raw": (FLOATS, _request(*((n, "FP64", [1], [1]) for n in "abc"), typed="c")),
    "bytes-in-floats": (FLOATS, _request(("a", "BYTES", [1], b"\1\0\0\0x"), *((n, "FP64", [1], [1]) for n in "bc"))),
    "mixed": (MIXED, _request(("a", "FP64", [2], [1, 2]), ("t", "BYTES", [2], b"\1\0\0\0x\1\0\0\0y"))),
    "uint8": (INTS, _cols("UINT8", a=[1, 255], b=[3, 4])),
}


def _outcome(signature: Signature, request: pb.ModelInferRequest, use_signature: bool) -> tuple[str, Any]:
    try:
        raw = decode_infer_request(request, signature if use_signature else None).inputs
        batch = validate_inputs(signature, raw, max_rows=100)
    except ShipyardError as exc:
        return "error", (type(exc).__name__, str(exc))
    content = {}
    for name in signature.input_names:
        column = batch.column(name)
        values = ["nan" if isinstance(v, float) and np.isnan(v) else v for v in column.tolist()]
        content[name] = (column.dtype.str, values)
    return "ok", content


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_grpc_raw_columns_decode_as_the_per_tensor_path(case: str) -> None:
    signature, request = CASES[case]
    assert _outcome(signature, request, True) == _outcome(signature, request, False)


def test_grpc_raw_columns_become_one_block() -> None:
    signature, request = CASES["reordered"]
    inputs = decode_infer_request(request, signature).inputs
    assert len(inputs.items) == 1 and inputs.items[0].name is None
    assert inputs.items[0].array.tolist() == [[1.5, 3.0, 0.5], [2.0, 4.0, 1.0]]
    # Without the signature, one array per tensor, as before.
    assert [item.name for item in decode_infer_request(request).inputs.items] == ["c", "a", "b"]
