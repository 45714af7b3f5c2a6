"""A compiled model run by ONNX Runtime, answering exactly as its native model does.

``CompiledModel`` keeps the native model's output names, dtypes and shapes: labels in the
dtype of the real classes (int64, float64, bool or strings), ``predict_proba`` float64
``[rows, n_classes]``, regression ``predict`` float64 ``[rows]``. How the graph's inputs
and outputs map to the signature is read from the artifact itself (``convert.INPUTS_KEY``
and friends), so the artifact needs nothing else to load.

Thread safety: ``InferenceSession.run`` may be called from several threads at once. The
session uses one intra-op thread: the server already runs requests in parallel, and a
one-row call is too small to split.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from shipyard.compile.convert import CLASSES_KEY, INPUTS_KEY, OUTPUTS_KEY
from shipyard.compile.sklearn_imputer import MISSING_TEXT
from shipyard.errors import ModelLoadError
from shipyard.flavors.base import LoadedModel
from shipyard.flavors.classifier_outputs import PREDICT, PREDICT_PROBA, as_label_array
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature, numpy_dtype


def _session(model_bytes: bytes) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(f"ONNX Runtime cannot load the compiled model: {first[:200]}") from exc


class CompiledModel(LoadedModel):
    """The compiled (ONNX) form of a registered version."""

    flavor = "compiled"
    row_independent = True

    def __init__(self, model_bytes: bytes, signature: Signature) -> None:
        self._session = _session(model_bytes)
        meta = self._session.get_modelmeta().custom_metadata_map
        try:
            self._inputs: dict[str, Any] = json.loads(meta[INPUTS_KEY])
            self._output_names: list[str] = json.loads(meta[OUTPUTS_KEY])
            classes = json.loads(meta[CLASSES_KEY]) if CLASSES_KEY in meta else None
        except (KeyError, ValueError) as exc:
            raise ModelLoadError("the compiled model lacks Shipyard's input/output description") from exc
        self._signature = signature
        self._specs = {spec.name: spec for spec in signature.outputs}
        missing = [n for n in self._output_names if n not in self._specs]
        if missing or not self._output_names:
            raise ModelLoadError(f"the compiled model's outputs {missing} are not in the version's signature")
        graph_outputs = [o.name for o in self._session.get_outputs()]
        self._graph_outputs = graph_outputs[: len(self._output_names)]
        self._label_classes = as_label_array(classes) if classes is not None else None
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._matrix_dtype = np.dtype(self._inputs.get("dtype", "float64"))

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return tuple(self._specs[name] for name in self._output_names)

    def input_signature(self) -> Signature:
        return Signature(kind="columns", inputs=self._signature.inputs, frame=self._signature.frame)

    def _feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        if self._inputs.get("kind") == "matrix":
            return {self._input_names[0]: np.ascontiguousarray(batch.as_matrix(self._matrix_dtype))}
        feeds = {}
        for name, dtype in self._inputs["dtypes"].items():
            column = batch.column(name)
            if dtype == "string":
                values = _text(column)
            elif dtype.startswith(("int", "uint")):
                values = column.astype(np.int64, copy=False)
            else:
                values = column.astype(np.float64, copy=False)
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def predict(self, batch: Batch) -> Outputs:
        results = self._session.run(self._graph_outputs, self._feeds(batch))
        outputs: Outputs = {}
        for name, value in zip(self._output_names, results, strict=True):
            outputs[name] = self._native_form(name, np.asarray(value), batch.n_rows)
        return outputs

    def _native_form(self, name: str, value: np.ndarray, rows: int) -> np.ndarray:
        spec = self._specs[name]
        if name == PREDICT_PROBA:
            return value.astype(np.float64, copy=False).reshape(rows, -1)
        value = value.reshape(rows) if value.size == rows else value.reshape(rows, -1)
        if name == PREDICT and self._label_classes is not None:
            return np.asarray(self._label_classes[value.astype(np.int64)])
        if spec.dtype == "string":
            if value.dtype.kind == "O" and all(isinstance(v, str) for v in value.tolist()):
                return value
            return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()], dtype=object)
        return value.astype(numpy_dtype(spec.dtype), copy=False)


def _text(column: np.ndarray) -> np.ndarray:
    """A text column as the graph takes it: strings, a missing value (None, NaN) as ``MISSING_TEXT``."""
    if column.dtype.kind == "U":
        return column.astype(object)
    return np.asarray([_text_value(v) for v in column.tolist()], dtype=object)


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING_TEXT
    return value.decode() if isinstance(value, bytes) else str(value)


def load_compiled(model_bytes: bytes, signature: Signature) -> CompiledModel:
    """A ``CompiledModel`` from the artifact's bytes and the version's signature."""
    return CompiledModel(model_bytes, signature)
