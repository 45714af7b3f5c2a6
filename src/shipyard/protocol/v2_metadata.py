"""Open Inference Protocol (V2) server and model metadata documents.

Metadata says which input names exist. For a ``columns`` signature every column is listed
as a ``[-1]`` tensor, and ``parameters`` says that one ``[-1, k]`` tensor holding the columns
in this order is accepted too (what MLServer-style clients send as ``input-0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard.protocol.datatypes import v2_for_signature
from shipyard.schema.signature import FieldSpec, Signature

SERVER_EXTENSIONS: tuple[str, ...] = ("binary_tensor_data", "statistics", "model_repository")
"""Protocol extensions the server implements, by Triton's names: the binary tensor data of
the V2 codec, the statistics (``GET /v2/models[/{name}[/versions/{v}]]/stats``) and the
model repository's index (``POST /v2/repository/index``, read-only: load and unload are
refused, since ``shipyard serve`` decides what is served)."""


def encode_server_metadata(name: str, version: str, extensions: Sequence[str] = SERVER_EXTENSIONS) -> dict[str, Any]:
    """The ``GET /v2`` document."""
    return {"name": name, "version": version, "extensions": list(extensions)}


def encode_model_metadata(
    name: str, versions: Sequence[str], platform: str, signature: Signature | None
) -> dict[str, Any]:
    """The ``GET /v2/models/{name}[/versions/{v}]`` document for one model.

    Without a signature the model's inputs are unknown, so ``inputs``/``outputs`` are empty.
    """
    document: dict[str, Any] = {"name": name, "versions": list(versions), "platform": platform}
    if signature is None:
        document["inputs"] = []
        document["outputs"] = []
        return document
    document["inputs"] = [_tensor(spec) for spec in signature.inputs]
    document["outputs"] = [_tensor(spec) for spec in signature.outputs]
    parameters: dict[str, Any] = {"signature_kind": signature.kind}
    if signature.kind == "columns":
        names = list(signature.input_names)
        parameters["columns"] = names
        homogeneous = signature.homogeneous_dtype
        if homogeneous is not None:
            # One 2-D tensor can only carry the columns if one datatype fits them all.
            parameters["matrix_input"] = {
                "shape": [-1, len(names)],
                "datatype": v2_for_signature(homogeneous),
                "column_order": names,
                "description": "any input name that is not a column name; columns in this order",
            }
        nullable = [spec.name for spec in signature.inputs if spec.nullable]
        if nullable:
            parameters["nullable"] = nullable
    document["parameters"] = parameters
    return document


def _tensor(spec: FieldSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": v2_for_signature(spec.dtype), "shape": list(spec.shape)}
