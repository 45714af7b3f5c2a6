"""scikit-learn's tree models as double-precision ONNX, plugged into skl2onnx per call.

skl2onnx converts trees, forests and gradient boosting with float32 thresholds and leaf
values (and fails outright on histogram gradient boosting with scikit-learn 1.9), so these
estimators are converted here instead, through ``convert_sklearn``'s
``custom_conversion_functions``: no global registration, and pipelines around them (scalers,
encoders, column transformers) still go through skl2onnx's own converters.

Each estimator becomes an ``Ensemble`` (``shipyard.compile.trees``) plus how its raw scores
turn into outputs: a forest averages class fractions, boosting adds a learning-rate-scaled
sum to a baseline and applies its loss's inverse link.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shipyard.compile.trees import (
    Ensemble,
    Tree,
    emit,
    emit_labels,
    emit_probabilities,
    emit_scale,
)
from shipyard.errors import UnsupportedFormat


@dataclass(frozen=True)
class TreeModel:
    """An estimator's ensemble and the steps from its raw scores to its outputs."""

    ensemble: Ensemble
    scale: float = 1.0
    link: str = "identity"
    classes: np.ndarray | None = None


def _sklearn_tree(estimator: Any, *, classifier: bool) -> Tree:
    tree = estimator.tree_
    if tree.n_outputs != 1:
        raise UnsupportedFormat("multi-output trees are not compiled")
    values = np.asarray(tree.value[:, 0, :], dtype=np.float64)
    if classifier:
        # DecisionTreeClassifier.predict_proba normalises each leaf's class weights.
        totals = values.sum(axis=1, keepdims=True)
        values = values / np.where(totals == 0.0, 1.0, totals)
    missing = getattr(tree, "missing_go_to_left", None)
    return Tree(
        left=np.asarray(tree.children_left),
        right=np.asarray(tree.children_right),
        feature=np.asarray(tree.feature),
        threshold=np.asarray(tree.threshold, dtype=np.float64),
        missing_left=np.asarray(missing, dtype=bool) if missing is not None else np.zeros(tree.node_count, bool),
        values=values,
        targets=tuple(range(values.shape[1])),
    )


def _forest(model: Any, classifier: bool) -> TreeModel:
    estimators = list(getattr(model, "estimators_", [model]))
    trees = [_sklearn_tree(e, classifier=classifier) for e in estimators]
    n_targets = len(model.classes_) if classifier else 1
    ensemble = Ensemble(trees, n_targets, np.zeros(n_targets), float32_inputs=True)
    classes = np.asarray(model.classes_) if classifier else None
    return TreeModel(ensemble, scale=1.0 / len(trees), classes=classes)


def _gradient_boosting(model: Any, classifier: bool) -> TreeModel:
    if model.init not in (None, "zero"):
        raise UnsupportedFormat("gradient boosting with a custom init estimator is not compiled")
    if classifier and model.loss != "log_loss":
        raise UnsupportedFormat(f"gradient boosting with loss={model.loss!r} is not compiled")
    k = model.estimators_.shape[1]
    trees = []
    for stage in model.estimators_:
        for column, estimator in enumerate(stage):
            tree = _sklearn_tree(estimator, classifier=False)
            trees.append(Tree(**{**tree.__dict__, "targets": (column,)}))
    # The baseline is the init estimator's raw prediction, the same for every row; derived
    # through public methods as the model's raw score minus its trees on one row.
    row = np.zeros((1, model.n_features_in_))
    raw = model.decision_function(row) if classifier else model.predict(row)
    sums = np.zeros(k)
    for stage in model.estimators_:
        sums += np.array([e.predict(row.astype(np.float32))[0] for e in stage])
    base = np.asarray(raw, dtype=np.float64).reshape(-1) - model.learning_rate * sums
    rate = float(model.learning_rate)
    # raw = base + rate * sum(trees), written as rate * (sum(trees) + base / rate): one Add.
    ensemble = Ensemble(trees, k, base / rate, float32_inputs=True)
    link = "identity" if not classifier else ("logistic" if k == 1 else "softmax")
    return TreeModel(ensemble, scale=rate, link=link, classes=np.asarray(model.classes_) if classifier else None)


def _hist_gradient_boosting(model: Any, classifier: bool) -> TreeModel:
    loss = type(model._loss).__name__
    if loss not in ("HalfBinomialLoss", "HalfMultinomialLoss", "HalfSquaredError"):
        raise UnsupportedFormat(f"histogram gradient boosting with {loss} is not compiled")
    trees = []
    for iteration in model._predictors:
        for column, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise UnsupportedFormat("histogram gradient boosting with categorical splits is not compiled")
            leaf = nodes["is_leaf"].astype(bool)
            trees.append(
                Tree(
                    left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    feature=nodes["feature_idx"].astype(np.int64),
                    threshold=nodes["num_threshold"].astype(np.float64),
                    missing_left=nodes["missing_go_to_left"].astype(bool),
                    values=nodes["value"].astype(np.float64).reshape(-1, 1),
                    targets=(column,),
                )
            )
    k = len(model._predictors[0])
    base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    ensemble = Ensemble(trees, k, base, float32_inputs=False)
    link = "identity" if not classifier else ("logistic" if k == 1 else "softmax")
    return TreeModel(ensemble, link=link, classes=np.asarray(model.classes_) if classifier else None)


def tree_model(model: Any) -> TreeModel:
    """The ensemble of a fitted tree estimator; ``UnsupportedFormat`` for any other."""
    from sklearn.base import is_classifier
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import BaseDecisionTree

    classifier = is_classifier(model)
    if getattr(model, "n_outputs_", 1) != 1:
        raise UnsupportedFormat("multi-output models are not compiled")
    forests = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
    if isinstance(model, (*forests, BaseDecisionTree)):
        return _forest(model, classifier)
    if isinstance(model, GradientBoostingClassifier | GradientBoostingRegressor):
        return _gradient_boosting(model, classifier)
    if isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return _hist_gradient_boosting(model, classifier)
    raise UnsupportedFormat(f"{type(model).__name__} is not a tree model")


TREE_TYPES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)


class _ContainerSink:
    """``GraphSink`` over skl2onnx's scope and container."""

    def __init__(self, scope: Any, container: Any) -> None:
        self._scope = scope
        self._container = container

    def unique(self, seed: str) -> str:
        return str(self._scope.get_unique_variable_name(seed))

    def node(self, op_type: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: Any) -> None:
        from shipyard.compile.trees import ONNX_OPSET

        # skl2onnx refuses to write ai.onnx.ml opset 5, so nodes are booked as opset 3 and
        # ``raise_ml_opset`` sets the model's import to 5 after conversion.
        version = 3 if domain else ONNX_OPSET
        name = self._scope.get_unique_operator_name(op_type)
        self._container.add_node(op_type, inputs, outputs, op_domain=domain, op_version=version, name=name, **attrs)

    def constant(self, seed: str, value: np.ndarray) -> str:
        from onnx import TensorProto

        name = self.unique(seed)
        if value.dtype.kind in ("U", "O", "S"):
            data = [str(v).encode() for v in value.ravel().tolist()]
            self._container.add_initializer(name, TensorProto.STRING, list(value.shape), data)
        elif value.dtype.kind in ("i", "u", "b"):
            self._container.add_initializer(name, TensorProto.INT64, list(value.shape), value.astype(np.int64).ravel())
        else:
            self._container.add_initializer(
                name, TensorProto.DOUBLE, list(value.shape), value.astype(np.float64).ravel()
            )
        return name


def _converter(scope: Any, operator: Any, container: Any) -> None:
    sink = _ContainerSink(scope, container)
    model = tree_model(operator.raw_operator)
    source = operator.inputs[0].full_name
    if type(operator.inputs[0].type).__name__ != "DoubleTensorType":
        source = sink.unique("x_double")
        sink.node("Cast", [operator.inputs[0].full_name], [source], to=11)
    scores = emit(model.ensemble, sink, source)
    if model.scale != 1.0:
        scores = emit_scale(sink, scores, model.scale)
    if model.classes is None:
        sink.node("Identity", [scores], [operator.outputs[0].full_name])
        return
    proba = operator.outputs[1].full_name
    emit_probabilities(sink, scores, model.link, proba)
    classes = np.asarray(model.classes)
    labels = np.asarray([str(c) for c in classes.tolist()], dtype=object) if classes.dtype.kind in "OUS" else classes
    emit_labels(sink, proba, labels, operator.outputs[0].full_name)


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType

    rows = operator.inputs[0].get_first_dimension()
    model = operator.raw_operator
    classes = getattr(model, "classes_", None)
    if classes is None or len(operator.outputs) == 1:
        operator.outputs[0].type = DoubleTensorType([rows, 1])
        return
    kind = np.asarray(classes).dtype.kind
    operator.outputs[0].type = StringTensorType([rows]) if kind in "OUS" else Int64TensorType([rows])
    operator.outputs[1].type = DoubleTensorType([rows, len(classes)])


def raise_ml_opset(model: Any) -> None:
    """Import ai.onnx.ml opset 5 in a converted model that holds ``TreeEnsemble`` nodes."""
    from shipyard.compile.trees import ML_DOMAIN, ML_OPSET

    if not any(n.op_type == "TreeEnsemble" and n.domain == ML_DOMAIN for n in model.graph.node):
        return
    for opset in model.opset_import:
        if opset.domain == ML_DOMAIN:
            opset.version = max(opset.version, ML_OPSET)


def custom_functions() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``(custom_conversion_functions, custom_shape_calculators)`` for ``convert_sklearn``."""
    import sklearn.ensemble
    import sklearn.tree

    conversions: dict[Any, Any] = {}
    shapes: dict[Any, Any] = {}
    for name in TREE_TYPES:
        cls = getattr(sklearn.tree, name, None) or getattr(sklearn.ensemble, name)
        conversions[cls] = _converter
        shapes[cls] = _shapes
    return conversions, shapes
