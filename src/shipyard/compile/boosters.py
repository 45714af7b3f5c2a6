"""XGBoost and LightGBM boosters as ONNX graphs.

LightGBM compares float64 inputs with float64 thresholds and sums float64 leaf values;
onnxmltools would round both to float32, so its trees are read from ``dump_model()`` and
written as a double ``TreeEnsemble`` here (``shipyard.compile.trees``). Missing values
follow LightGBM's rules: ``missing_type=NaN`` sends NaN the node's default way, ``None``
treats NaN as 0.0, which at a given node is a fixed direction too. ``Zero`` (zero as
missing) and categorical splits are refused.

XGBoost itself works in float32 (inputs, thresholds, sums), so onnxmltools' float32 graph
is the faithful form; its ``label`` output holds class indices, mapped to the real labels
by the runtime (``LABEL_CLASSES``).
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import numpy as np

from shipyard.compile.trees import (
    ML_DOMAIN,
    ML_OPSET,
    ONNX_OPSET,
    Ensemble,
    Tree,
    emit,
    emit_labels,
    emit_probabilities,
    emit_scale,
)
from shipyard.errors import UnsupportedFormat

XGBOOST_OPSET = 15
"""The newest opset onnxmltools' XGBoost converter writes."""
_LGB_IDENTITY = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})
_XGB_OBJECTIVES = frozenset({"binary:logistic", "multi:softprob", "reg:squarederror", "reg:absoluteerror"})


class GraphBuilder:
    """A ``GraphSink`` collecting nodes and initializers for one standalone graph."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def unique(self, seed: str) -> str:
        self._count += 1
        return f"{seed}_{self._count}"

    def node(self, op_type: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: Any) -> None:
        from onnx import helper

        name = self.unique(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, domain=domain, **attrs))

    def constant(self, seed: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.unique(seed)
        if value.dtype.kind in ("U", "O", "S"):
            value = np.asarray([str(v).encode() for v in value.ravel().tolist()], dtype=object).reshape(value.shape)
        elif value.dtype.kind in ("i", "u", "b"):
            value = value.astype(np.int64)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def model(self, inputs: list[Any], outputs: list[Any]) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, "shipyard", inputs, outputs, self.initializers)
        opsets = [helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(ML_DOMAIN, ML_OPSET)]
        return helper.make_model(graph, opset_imports=opsets, producer_name="shipyard")


def _flatten(root: dict[str, Any], target: int) -> Tree:
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    missing: list[bool] = []
    values: list[float] = []
    stack: list[tuple[dict[str, Any], int, str]] = [(root, -1, "")]
    while stack:
        node, parent, side = stack.pop()
        index = len(left)
        left.append(-1)
        right.append(-1)
        feature.append(0)
        threshold.append(0.0)
        missing.append(False)
        values.append(float(node.get("leaf_value", 0.0)))
        if parent >= 0:
            (left if side == "L" else right)[parent] = index
        if "split_feature" not in node:
            continue
        if node.get("decision_type") != "<=":
            raise UnsupportedFormat("LightGBM categorical splits are not compiled")
        kind = node.get("missing_type", "None")
        if kind == "Zero":
            raise UnsupportedFormat("LightGBM models with zero_as_missing are not compiled")
        feature[index] = int(node["split_feature"])
        threshold[index] = float(node["threshold"])
        # NaN: the default direction; None: NaN counts as 0.0, compared like any value.
        missing[index] = bool(node["default_left"]) if kind == "NaN" else threshold[index] >= 0.0
        stack.append((node["right_child"], index, "R"))
        stack.append((node["left_child"], index, "L"))
    return Tree(
        left=np.asarray(left),
        right=np.asarray(right),
        feature=np.asarray(feature),
        threshold=np.asarray(threshold, dtype=np.float64),
        missing_left=np.asarray(missing, dtype=bool),
        values=np.asarray(values, dtype=np.float64).reshape(-1, 1),
        targets=(target,),
    )


def lightgbm_graph(booster: Any, classes: np.ndarray | None) -> Any:
    """A double-precision ONNX model of a LightGBM booster: input ``X`` (double, rows x features)."""
    from onnx import TensorProto, helper

    dump = booster.dump_model()
    objective = str(dump.get("objective", "")).split(" ")
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    trees = [_flatten(info["tree_structure"], i % per_iteration) for i, info in enumerate(dump["tree_info"])]
    if not trees:
        raise UnsupportedFormat("the LightGBM model has no trees")
    builder = GraphBuilder()
    n_features = int(booster.num_feature())
    scores = emit(Ensemble(trees, per_iteration, np.zeros(per_iteration)), builder, "X")
    inputs = [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n_features])]
    name = objective[0]
    if classes is None:
        if name not in _LGB_IDENTITY:
            raise UnsupportedFormat(f"LightGBM objective {name!r} is not compiled")
        builder.node("Identity", [scores], ["variable"])
        return builder.model(inputs, [helper.make_tensor_value_info("variable", TensorProto.DOUBLE, [None, 1])])
    if name == "binary":
        sigmoid = next((float(p.split(":")[1]) for p in objective[1:] if p.startswith("sigmoid:")), 1.0)
        if sigmoid != 1.0:
            scores = emit_scale(builder, scores, sigmoid)
        emit_probabilities(builder, scores, "logistic", "probabilities")
    elif name == "multiclass":
        emit_probabilities(builder, scores, "softmax", "probabilities")
    else:
        raise UnsupportedFormat(f"LightGBM objective {name!r} is not compiled")
    labels = np.arange(len(classes), dtype=np.int64)
    emit_labels(builder, "probabilities", labels, "label")
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, len(classes)]),
    ]
    return builder.model(inputs, outputs)


def xgboost_graph(booster: Any) -> Any:
    """onnxmltools' float32 ONNX model of an XGBoost booster: input ``X`` (float32)."""
    config = json.loads(booster.save_config())
    objective = str(config["learner"]["objective"]["name"])
    if objective not in _XGB_OBJECTIVES:
        raise UnsupportedFormat(f"XGBoost objective {objective!r} is not compiled")
    if booster.attr("best_iteration") is not None:
        raise UnsupportedFormat("early-stopped XGBoost models are not compiled (the converter uses every tree)")
    try:
        onnxmltools = importlib.import_module("onnxmltools")
        types = importlib.import_module("onnxmltools.convert.common.data_types")
    except ImportError as exc:
        raise UnsupportedFormat("compiling XGBoost models needs onnxmltools (pip install onnxmltools)") from exc
    n_features = int(booster.num_features())
    initial = [("X", types.FloatTensorType([None, n_features]))]
    # onnxmltools reads feature positions from names of the form f0, f1, ...; the runtime
    # feeds columns in signature order, so a copy without names converts the same trees.
    unnamed = booster.copy()
    unnamed.feature_names = None
    unnamed.feature_types = None
    try:
        return onnxmltools.convert_xgboost(unnamed, initial_types=initial, target_opset=XGBOOST_OPSET)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnsupportedFormat(f"onnxmltools cannot convert the XGBoost model: {first[:200]}") from exc
