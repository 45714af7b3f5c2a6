"""The forest as ONNX: exported with skl2onnx, and run in-process by onnxruntime the way Shipyard runs it.

The graph takes float32 rows (skl2onnx's usual `FloatTensorType([None, 20])`) and answers `label` and
`probabilities` as plain tensors (`zipmap=False`: no list of dicts per row). Servers are sent the
same FP64 JSON as for the scikit-learn forest and cast to float32 themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT_NAME = "input"


def export(estimator: Any, n_features: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    graph = to_onnx(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
        options={id(estimator): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return graph.SerializeToString()


class OnnxPredictor:
    """`predict(X)` through onnxruntime with one intra-op thread (Shipyard's default for ONNX)."""

    def __init__(self, graph: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._session.run(None, {INPUT_NAME: X.astype(np.float32)})[0]
