"""XGBoost boosters in XGBoost's own JSON or UBJSON format (never pickle).

Whether the booster classifies or regresses comes from its objective. XGBoost knows only
class indices, so real labels come from ``metadata["classes"]`` (recorded when a live
``XGBClassifier`` is saved). Thread safety: ``Booster.inplace_predict`` is documented as
thread safe, so one loaded model serves many threads at once.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import ModelLoadError, UnsupportedFormat
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions, NativeObject, SavedModel
from shipyard.flavors.classifier_outputs import (
    CLASSES_KEY,
    PREDICT,
    PREDICT_PROBA,
    binary_proba,
    classes_from_metadata,
    classifier_specs,
    labels_from_proba,
    numbered_columns,
    regressor_specs,
)
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature

logger = logging.getLogger(__name__)

FILENAME = "model.json"
_JSON_HEAD = re.compile(rb'^\s*\{\s*"learner"\s*:')
# UBJSON: '{' then the key "learner" with its length marker (i, U, I, l or L + length).
_UBJ_HEAD = re.compile(rb"^\{[iUIlL][\x00-\xff]{1,8}learner", re.DOTALL)
# Objectives whose raw output is a probability of the positive class (or classes).
_PROBA_OBJECTIVES = frozenset({"binary:logistic", "multi:softprob"})
_LABEL_OBJECTIVES = frozenset({"binary:hinge", "multi:softmax"})


class XGBoostModel(LoadedModel):
    flavor = "xgboost"

    def __init__(self, booster: Any, objective: str, classes: np.ndarray | None) -> None:
        self._booster = booster
        self._objective = objective
        best = booster.attr("best_iteration")
        # Early-stopped models answer with their best iteration, as XGBClassifier.predict does.
        self._iterations = (0, int(best) + 1) if best is not None else (0, 0)
        self._n_features = int(booster.num_features())
        self._feature_names = booster.feature_names
        self._classes = classes
        if classes is None:
            self._outputs = regressor_specs()
        else:
            with_proba = objective in _PROBA_OBJECTIVES or objective == "binary:logitraw"
            self._outputs = classifier_specs(classes, with_proba=with_proba)

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._outputs

    def input_signature(self) -> Signature:
        return numbered_columns(self._n_features, self._feature_names)

    def compilable(self, signature: Signature) -> NativeObject:
        return NativeObject("xgboost", self._booster, self._classes)

    def predict(self, batch: Batch) -> Outputs:
        matrix = batch.as_matrix(np.float64)
        # validate_features is off: columns arrive in signature order, already checked.
        raw = np.asarray(
            self._booster.inplace_predict(matrix, iteration_range=self._iterations, validate_features=False)
        )
        if self._classes is None:
            return {PREDICT: raw.astype(np.float64, copy=False)}
        if self._objective in _LABEL_OBJECTIVES:
            return {PREDICT: self._classes[raw.reshape(-1).astype(np.int64)]}
        if raw.ndim == 2:
            proba = raw.astype(np.float64, copy=False)
        else:
            positive = 1.0 / (1.0 + np.exp(-raw)) if self._objective == "binary:logitraw" else raw
            proba = binary_proba(positive)
        return {PREDICT: labels_from_proba(proba, self._classes), PREDICT_PROBA: proba}


def _objective(booster: Any) -> tuple[str, int]:
    config = json.loads(booster.save_config())
    learner = config["learner"]
    objective = str(learner["objective"]["name"])
    n_classes = int(learner["learner_model_param"].get("num_class", "0") or 0)
    return objective, n_classes


def is_classification(objective: str) -> bool:
    return objective.startswith(("binary:", "multi:"))


class XGBoostFlavor(Flavor):
    """XGBoost's native JSON (``.json``) or UBJSON (``.ubj``) model files."""

    name = "xgboost"

    def sniff(self, head: bytes, path: Path) -> bool:
        return bool(_JSON_HEAD.match(head) or _UBJ_HEAD.match(head))

    def can_save(self, obj: Any) -> bool:
        names = {f"{c.__module__}.{c.__name__}" for c in type(obj).__mro__}
        return bool(names & {"xgboost.sklearn.XGBModel", "xgboost.core.Booster"})

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / FILENAME
        booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
        try:
            booster.save_model(str(path))
        except Exception as exc:
            raise UnsupportedFormat(f"could not save the XGBoost model: {exc}") from exc
        metadata: dict[str, Any] = {}
        classes = getattr(obj, "classes_", None)
        if classes is not None:
            metadata[CLASSES_KEY] = np.asarray(classes).tolist()
        return SavedModel(path=path, flavor=self.name, metadata=metadata)

    def load(self, path: Path, options: LoadOptions) -> XGBoostModel:
        import xgboost

        try:
            booster = xgboost.Booster(model_file=str(path))
            objective, n_classes = _objective(booster)
        except Exception as exc:
            raise ModelLoadError(f"XGBoost could not load {path.name}: {exc}") from exc
        classes = None
        if is_classification(objective):
            classes = classes_from_metadata(options.metadata, max(n_classes, 2))
        logger.debug("loaded XGBoost booster %s (objective %s)", path, objective)
        return XGBoostModel(booster, objective, classes)
