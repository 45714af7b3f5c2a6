"""The outputs every flavor's classifiers and regressors share, named as MLServer does.

Classifiers answer ``predict`` (labels, in the dtype of their classes) and, where the model
can, ``predict_proba`` (float64, one column per class). Regressors answer ``predict``
(float64). Gradient-boosting libraries only know class indices 0..k-1, so the real labels
travel in ``SavedModel.metadata["classes"]`` and come back as ``LoadOptions.metadata``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shipyard.errors import ModelLoadError
from shipyard.schema.signature import FieldSpec, Signature

logger = logging.getLogger(__name__)

PREDICT = "predict"
PREDICT_PROBA = "predict_proba"
CLASSES_KEY = "classes"


def class_dtype(classes: np.ndarray) -> str:
    """The signature dtype of a classifier's labels."""
    kind = classes.dtype.kind
    if kind in ("U", "S", "O"):
        return "string"
    if kind == "b":
        return "bool"
    if kind in ("i", "u"):
        return "int64"
    return "float64"


def as_label_array(classes: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Class labels as numpy holds them for answers: int64, float64, bool or object strings."""
    array = np.asarray(classes)
    dtype = class_dtype(array)
    if dtype == "string":
        return np.asarray([str(c) for c in array.tolist()], dtype=object)
    return array.astype(dtype)


def classes_from_metadata(metadata: Mapping[str, Any], n_classes: int) -> np.ndarray:
    """The labels recorded at save time, or 0..n_classes-1 when none were recorded."""
    recorded = metadata.get(CLASSES_KEY)
    if recorded is None:
        return np.arange(n_classes, dtype=np.int64)
    classes = as_label_array(list(recorded))
    if len(classes) != n_classes:
        raise ModelLoadError(
            f"the recorded metadata names {len(classes)} classes but the model has {n_classes}",
            hint="re-register the model so its class labels are recorded again",
        )
    return classes


def classifier_specs(classes: np.ndarray, *, with_proba: bool) -> tuple[FieldSpec, ...]:
    specs = [FieldSpec(PREDICT, class_dtype(classes))]
    if with_proba:
        specs.append(FieldSpec(PREDICT_PROBA, "float64", shape=(-1, len(classes))))
    return tuple(specs)


def regressor_specs() -> tuple[FieldSpec, ...]:
    return (FieldSpec(PREDICT, "float64"),)


def labels_from_proba(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Labels as scikit-learn's classifiers pick them: the most probable class, first on ties."""
    return np.asarray(classes[np.argmax(proba, axis=1)])


def binary_proba(positive: np.ndarray) -> np.ndarray:
    """A 2-column probability matrix from the positive class's probability."""
    positive = np.asarray(positive, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - positive, positive])


def numbered_columns(n_features: int, names: Sequence[str] | None = None, dtype: str = "float64") -> Signature:
    """A ``columns`` signature fed as a matrix: the model's feature names, else ``x0..``."""
    labels = list(names) if names is not None else [f"x{i}" for i in range(n_features)]
    return Signature(kind="columns", inputs=tuple(FieldSpec(n, dtype) for n in labels))
