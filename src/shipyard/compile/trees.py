"""Tree ensembles as ONNX ``TreeEnsemble`` nodes (ai.onnx.ml opset 5), in double precision.

The older ``TreeEnsembleClassifier``/``Regressor`` ops that skl2onnx and onnxmltools emit
keep thresholds and leaf values as float32, so a row within a float32 step of a threshold
can take the other branch, and regression values lose about 7 significant digits. Opset 5's
``TreeEnsemble`` takes double thresholds and leaf weights and computes in the input's type,
which lets a compiled ensemble make exactly the native library's decisions:

- scikit-learn's trees, forests and (non-histogram) gradient boosting cast ``X`` to float32
  and compare it with double thresholds: ``float32_inputs`` rounds the input through float32
  (Cast, Cast) before the double comparison, as the library does;
- histogram gradient boosting and LightGBM compare float64 ``X`` with float64 thresholds.

A ``Tree`` holds one fitted tree as flat arrays; ``emit`` writes the ensemble through a
``GraphSink`` (skl2onnx's container, or a plain graph builder) and returns the name of the
raw ``(rows, n_targets)`` double scores, base values added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 5
ONNX_OPSET = 18
_LEQ = 0
_SUM = 1
_FLOAT = 1  # TensorProto.FLOAT
_DOUBLE = 11  # TensorProto.DOUBLE


@dataclass(frozen=True)
class Tree:
    """One fitted binary tree. Node ``i`` is a leaf when ``left[i] < 0``."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    """Go left when ``x <= threshold`` (after the ensemble's input rounding)."""
    missing_left: np.ndarray
    """Where NaN goes at each node (True: left)."""
    values: np.ndarray
    """Leaf values, ``(n_nodes, len(targets))``; rows of internal nodes are ignored."""
    targets: tuple[int, ...]
    """The output column each column of ``values`` adds to."""


@dataclass(frozen=True)
class Ensemble:
    trees: Sequence[Tree]
    n_targets: int
    base: np.ndarray
    """Added to the summed leaf values, one per target."""
    float32_inputs: bool = False


class GraphSink(Protocol):
    """Where nodes are written: skl2onnx's scope and container, or a plain builder."""

    def unique(self, seed: str) -> str: ...

    def node(self, op_type: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: Any) -> None: ...

    def constant(self, seed: str, value: np.ndarray) -> str: ...


def _tensor(name: str, data_type: int, values: np.ndarray) -> Any:
    from onnx import helper

    return helper.make_tensor(name, data_type, (len(values),), values.ravel().tolist())


def tree_attributes(ensemble: Ensemble) -> dict[str, Any]:
    """The ``TreeEnsemble`` attributes: one ONNX tree per (tree, target column)."""
    roots: list[int] = []
    features: list[np.ndarray] = []
    splits: list[np.ndarray] = []
    true_ids: list[np.ndarray] = []
    true_leaf: list[np.ndarray] = []
    false_ids: list[np.ndarray] = []
    false_leaf: list[np.ndarray] = []
    missing: list[np.ndarray] = []
    leaf_targets: list[np.ndarray] = []
    leaf_weights: list[np.ndarray] = []
    n_nodes = n_leaves = 0
    for tree in ensemble.trees:
        is_leaf = tree.left < 0
        internal = np.flatnonzero(~is_leaf)
        leaves = np.flatnonzero(is_leaf)
        node_index = np.cumsum(~is_leaf) - 1
        leaf_index = np.cumsum(is_leaf) - 1
        for column, target in enumerate(tree.targets):
            if len(internal) == 0:
                # A single-leaf tree: ONNX needs a root node, so split on nothing into that leaf.
                roots.append(n_nodes)
                features.append(np.zeros(1, np.int64))
                splits.append(np.zeros(1))
                true_ids.append(np.array([n_leaves]))
                false_ids.append(np.array([n_leaves]))
                true_leaf.append(np.ones(1, np.int64))
                false_leaf.append(np.ones(1, np.int64))
                missing.append(np.zeros(1, np.int64))
                n_nodes += 1
            else:
                roots.append(n_nodes + int(node_index[0]))
                lefts, rights = tree.left[internal], tree.right[internal]
                features.append(tree.feature[internal].astype(np.int64))
                splits.append(tree.threshold[internal].astype(np.float64))
                true_leaf.append(is_leaf[lefts].astype(np.int64))
                false_leaf.append(is_leaf[rights].astype(np.int64))
                true_ids.append(np.where(is_leaf[lefts], n_leaves + leaf_index[lefts], n_nodes + node_index[lefts]))
                false_ids.append(np.where(is_leaf[rights], n_leaves + leaf_index[rights], n_nodes + node_index[rights]))
                missing.append(tree.missing_left[internal].astype(np.int64))
                n_nodes += len(internal)
            leaf_targets.append(np.full(len(leaves), target, np.int64))
            leaf_weights.append(tree.values[leaves, column].astype(np.float64))
            n_leaves += len(leaves)
    if n_nodes == 0:
        raise ValueError("an ensemble without trees")
    return {
        "n_targets": ensemble.n_targets,
        "aggregate_function": _SUM,
        "post_transform": 0,
        "tree_roots": roots,
        "nodes_featureids": np.concatenate(features).tolist(),
        "nodes_splits": _tensor("nodes_splits", _DOUBLE, np.concatenate(splits)),
        "nodes_modes": _tensor("nodes_modes", 2, np.full(n_nodes, _LEQ, np.uint8)),  # 2: UINT8
        "nodes_truenodeids": np.concatenate(true_ids).astype(np.int64).tolist(),
        "nodes_trueleafs": np.concatenate(true_leaf).tolist(),
        "nodes_falsenodeids": np.concatenate(false_ids).astype(np.int64).tolist(),
        "nodes_falseleafs": np.concatenate(false_leaf).tolist(),
        "nodes_missing_value_tracks_true": np.concatenate(missing).tolist(),
        "leaf_targetids": np.concatenate(leaf_targets).tolist(),
        "leaf_weights": _tensor("leaf_weights", _DOUBLE, np.concatenate(leaf_weights)),
    }


def emit(ensemble: Ensemble, sink: GraphSink, input_name: str) -> str:
    """Write the ensemble reading double ``input_name``; the name of its raw double scores."""
    x = input_name
    if ensemble.float32_inputs:
        rounded = sink.unique("x_float32")
        sink.node("Cast", [x], [rounded], to=_FLOAT)
        x = sink.unique("x_rounded")
        sink.node("Cast", [rounded], [x], to=_DOUBLE)
    raw = sink.unique("tree_sum")
    sink.node("TreeEnsemble", [x], [raw], domain=ML_DOMAIN, **tree_attributes(ensemble))
    base = np.asarray(ensemble.base, dtype=np.float64).reshape(1, ensemble.n_targets)
    if not base.any():
        return raw
    scores = sink.unique("scores")
    sink.node("Add", [raw, sink.constant("base", base)], [scores])
    return scores


def emit_scale(sink: GraphSink, scores: str, factor: float) -> str:
    """``scores * factor`` (a forest's mean, a boosting learning rate)."""
    out = sink.unique("scaled")
    sink.node("Mul", [scores, sink.constant("factor", np.array([factor], dtype=np.float64))], [out])
    return out


def emit_probabilities(sink: GraphSink, scores: str, link: str, out: str) -> None:
    """Probabilities from raw scores as scikit-learn's losses compute them.

    ``link``: ``identity`` (a forest's mean class fractions), ``logistic`` (one column of
    log-odds; the result has two columns, ``1 - p`` then ``p``) or ``softmax``.
    """
    if link == "identity":
        sink.node("Identity", [scores], [out])
    elif link == "softmax":
        sink.node("Softmax", [scores], [out], axis=1)
    elif link == "logistic":
        positive = sink.unique("positive")
        sink.node("Sigmoid", [scores], [positive])
        negative = sink.unique("negative")
        sink.node("Sub", [sink.constant("one", np.array([1.0])), positive], [negative])
        sink.node("Concat", [negative, positive], [out], axis=1)
    else:
        raise ValueError(f"unknown link {link!r}")


def emit_labels(sink: GraphSink, proba: str, classes: np.ndarray, out: str) -> None:
    """The first most probable class, as ``numpy.argmax`` (and scikit-learn) picks it."""
    index = sink.unique("class_index")
    sink.node("ArgMax", [proba], [index], axis=1, keepdims=0, select_last_index=0)
    sink.node("Gather", [sink.constant("classes", classes), index], [out], axis=0)
