"""The request forms a Shipyard model is sent in, built from what `GET /v2/models/NAME` advertises.

A metadata-following client (tritonclient, the SDK with a DataFrame) sends one `[n]` tensor per
input the metadata lists: that is the headline form. Beside it, the same rows as: per-column V2
with the binary tensor extension, the single `[n, 20]` tensor the metadata offers as
`parameters.matrix_input` (numeric models), MLflow `dataframe_split`, KServe V1 `instances`, and
per-column V2 over gRPC (`ModelInfer` with `raw_input_contents`, as tritonclient.grpc sends it).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from models import dataframe_split_body, instances_body, matrix_body

_NUMPY = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4", "BOOL": "?"}
_JSON = {"FP64": float, "FP32": float, "INT64": int, "INT32": int, "BOOL": bool, "BYTES": str}


@dataclass(frozen=True)
class Request:
    """One request, ready for a load generator: where it goes, its headers and its body."""

    path: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _inputs(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = metadata.get("inputs") or []
    if not inputs:
        raise ValueError(f"the metadata of {metadata.get('name')} lists no inputs")
    return inputs


def unknown_inputs(metadata: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """One-dimensional inputs the metadata lists that are no column of the frame (the requests could not be built)."""
    return [spec["name"] for spec in _inputs(metadata) if len(spec["shape"]) != 2 and spec["name"] not in frame.columns]


def _column(rows: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    """The values of one input: a column of the frame, or (a one-input model) the whole frame as a matrix."""
    if len(spec["shape"]) == 2:
        return rows.to_numpy(np.float32 if spec["datatype"] == "FP32" else float)
    return rows[spec["name"]].to_numpy()


def _shape(values: np.ndarray) -> list[int]:
    return list(values.shape)


def columns_json(metadata: dict[str, Any], rows: pd.DataFrame) -> bytes:
    """V2 JSON, one tensor per metadata input (for a one-input model, that input's matrix)."""
    tensors = []
    for spec in _inputs(metadata):
        values = _column(rows, spec)
        cast = _JSON[spec["datatype"]]
        tensors.append(
            {
                "name": spec["name"],
                "shape": _shape(values),
                "datatype": spec["datatype"],
                "data": [cast(v) for v in values.ravel()],
            }
        )
    return json.dumps({"inputs": tensors}).encode()


def _raw(values: np.ndarray, datatype: str) -> bytes:
    """One tensor's bytes as the binary extension and gRPC's raw contents lay them out."""
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in values.ravel()]
        return b"".join(struct.pack("<I", len(item)) + item for item in encoded)
    return np.ascontiguousarray(values, dtype=_NUMPY[datatype]).tobytes()


def columns_binary(metadata: dict[str, Any], rows: pd.DataFrame) -> tuple[bytes, dict[str, str]]:
    """V2 with the binary tensor extension: a JSON header, then each tensor's raw bytes."""
    tensors, blobs = [], []
    for spec in _inputs(metadata):
        values = _column(rows, spec)
        raw = _raw(values, spec["datatype"])
        parameters = {"binary_data_size": len(raw)}
        tensors.append(
            {"name": spec["name"], "shape": _shape(values), "datatype": spec["datatype"], "parameters": parameters}
        )
        blobs.append(raw)
    header = json.dumps({"inputs": tensors}).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    return header + b"".join(blobs), headers


def matrix(metadata: dict[str, Any], rows: pd.DataFrame) -> bytes | None:
    """The single 2-D tensor the metadata offers (`parameters.matrix_input`), or None when it offers none."""
    offer = (metadata.get("parameters") or {}).get("matrix_input")
    if not offer:
        return None
    return matrix_body(rows[offer["column_order"]])


def grpc_message(metadata: dict[str, Any], rows: pd.DataFrame, model_name: str) -> bytes:
    """A serialized `ModelInferRequest`, per-column tensors in `raw_input_contents` (tritonclient.grpc's way)."""
    from tritonclient.grpc import service_pb2

    request = service_pb2.ModelInferRequest(model_name=model_name)
    for spec in _inputs(metadata):
        values = _column(rows, spec)
        tensor = request.inputs.add()
        tensor.name = spec["name"]
        tensor.datatype = spec["datatype"]
        tensor.shape.extend(_shape(values))
        request.raw_input_contents.append(_raw(values, spec["datatype"]))
    return request.SerializeToString()


def http_requests(metadata: dict[str, Any], rows: pd.DataFrame, name: str) -> dict[str, Request]:
    """Every HTTP form this model takes, by form key (the matrix only where the metadata offers it)."""
    infer = f"/v2/models/{name}/infer"
    binary, binary_headers = columns_binary(metadata, rows)
    out = {
        "columns": Request(infer, columns_json(metadata, rows)),
        "binary": Request(infer, binary, binary_headers),
        "mlflow": Request(f"/models/{name}/invocations", dataframe_split_body(rows)),
        "v1": Request(f"/v1/models/{name}:predict", instances_body(rows)),
    }
    matrix_form = matrix(metadata, rows)
    if matrix_form is not None:
        out["matrix"] = Request(infer, matrix_form)
    return out
