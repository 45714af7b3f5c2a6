"""Models as ONNX: exported with skl2onnx, and run in-process by onnxruntime the way Shipyard runs them.

A numeric model's graph takes float32 rows as one input (skl2onnx's usual `FloatTensorType([None,
20])`); a mixed pipeline's takes one `[None, 1]` input per column (float32 for numbers, strings for
the rest). Classifiers answer `label` and `probabilities` as plain tensors (`zipmap=False`: no list
of dicts per row). Servers are sent the same FP64 JSON as for the scikit-learn model and cast to
float32 themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

INPUT_NAME = "input"
_OPSET = {"": 17, "ai.onnx.ml": 3}


def _final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def export(estimator: Any, n_features: int) -> bytes:
    """One float32 `[None, n_features]` input."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    graph = to_onnx(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(_final_step(estimator)): {"zipmap": False}},
        target_opset=_OPSET,
    )
    return graph.SerializeToString()


def export_frame(estimator: Any, frame: pd.DataFrame) -> bytes:
    """A numeric frame: `export`; a mixed one: one `[None, 1]` input per column, named as the column."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        return export(estimator, frame.shape[1])
    types = [
        (
            name,
            FloatTensorType([None, 1]) if pd.api.types.is_numeric_dtype(frame[name]) else StringTensorType([None, 1]),
        )
        for name in frame.columns
    ]
    graph = to_onnx(
        estimator, initial_types=types, options={id(_final_step(estimator)): {"zipmap": False}}, target_opset=_OPSET
    )
    return graph.SerializeToString()


class OnnxPredictor:
    """`predict(X)` through onnxruntime with one intra-op thread (Shipyard's default for ONNX).

    X is a matrix (one-input graphs) or a DataFrame (a matrix for one-input graphs, else one feed per column).
    """

    def __init__(self, graph: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
        self.inputs = [node.name for node in self._session.get_inputs()]

    def feeds(self, X: Any) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            return {self.inputs[0]: np.asarray(X, dtype=np.float32)}
        out = {}
        for name in self.inputs:
            column = X[name]
            numeric = pd.api.types.is_numeric_dtype(column)
            out[name] = column.to_numpy(np.float32 if numeric else object).reshape(-1, 1)
        return out

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._session.run(None, feeds)[0]

    def predict(self, X: Any) -> np.ndarray:
        return self.run(self.feeds(X))
