"""scikit-learn estimators and pipelines, stored with skops instead of pickle.

A skops file is a zip holding ``schema.json`` (the object tree) and numpy arrays; loading
instantiates only types that are trusted (see ``skops_trust``), so a file cannot run code
it smuggles in. Thread safety: a fitted scikit-learn estimator's ``predict`` does not
mutate it, so one loaded model serves many threads at once.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import ModelLoadError, UnsafeFormat, UnsupportedFormat
from shipyard.flavors import skops_trust
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions, NativeObject, SavedModel
from shipyard.flavors.classifier_outputs import (
    PREDICT,
    PREDICT_PROBA,
    as_label_array,
    classifier_specs,
    labels_from_proba,
    numbered_columns,
    regressor_specs,
)
from shipyard.fs.archives import declared_members
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
SKOPS_SCHEMA = "schema.json"
FILENAME = "model.skops"


class SklearnModel(LoadedModel):
    flavor = "sklearn"

    def __init__(self, model: Any) -> None:
        from sklearn.base import is_classifier

        self._model = model
        self._wants_frame = hasattr(model, "feature_names_in_")
        self._classes: np.ndarray | None = None
        if is_classifier(model) and hasattr(model, "classes_"):
            self._classes = as_label_array(model.classes_)
        self._outputs = self._describe()
        self._labels_from_proba = self._classes is not None and _predict_is_argmax_proba(model)

    def _describe(self) -> tuple[FieldSpec, ...]:
        if self._classes is not None:
            return classifier_specs(self._classes, with_proba=hasattr(self._model, "predict_proba"))
        from sklearn.base import is_clusterer, is_outlier_detector

        if is_clusterer(self._model) or is_outlier_detector(self._model):
            return (FieldSpec(PREDICT, "int64"),)
        return regressor_specs()

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._outputs

    def input_signature(self) -> Signature | None:
        names = getattr(self._model, "feature_names_in_", None)
        if names is not None:
            known = known_column_dtypes(self._model)
            fields = tuple(FieldSpec(str(n), known.get(str(n), "float64")) for n in names)
            return Signature(kind="columns", inputs=fields, frame=True)
        n_features = getattr(self._model, "n_features_in_", None)
        if isinstance(n_features, int | np.integer):
            return numbered_columns(int(n_features))
        return None

    def compilable(self, signature: Signature) -> NativeObject:
        return NativeObject("sklearn", self._model, self._classes)

    def predict(self, batch: Batch) -> Outputs:
        data = _model_input(batch, self._wants_frame)
        outputs: Outputs = {}
        if self._labels_from_proba and self._classes is not None:
            # One pass over the trees instead of two: for these estimators predict() *is*
            # the first most probable class of predict_proba().
            proba = np.asarray(self._model.predict_proba(data), dtype=np.float64)
            labels = labels_from_proba(proba, self._classes)
            for spec in self._outputs:
                outputs[spec.name] = proba if spec.name == PREDICT_PROBA else _cast(labels, spec.dtype)
            return outputs
        for spec in self._outputs:
            if spec.name == PREDICT:
                outputs[PREDICT] = _cast(np.asarray(self._model.predict(data)), spec.dtype)
            elif spec.name == PREDICT_PROBA:
                outputs[PREDICT_PROBA] = np.asarray(self._model.predict_proba(data), dtype=np.float64)
        return outputs


def _predict_is_argmax_proba(model: Any) -> bool:
    """True when the (final) estimator's own ``predict`` is ``classes_[argmax(predict_proba)]``:
    forests, single trees and histogram gradient boosting compute it exactly that way."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.tree import BaseDecisionTree

    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if isinstance(final, BaseDecisionTree):
        return getattr(final, "n_outputs_", 1) == 1 and hasattr(final, "classes_")
    return isinstance(final, ForestClassifier | HistGradientBoostingClassifier) and getattr(final, "n_outputs_", 1) == 1


def _model_input(batch: Batch, wants_frame: bool) -> Any:
    if batch.tensors:
        if len(batch.tensors) != 1:
            raise ModelLoadError("a scikit-learn model takes one input tensor")
        return next(iter(batch.tensors.values()))
    # A model fitted on a DataFrame selects columns by name (ColumnTransformer) and warns
    # about missing feature names when given a bare matrix.
    if batch.signature.frame or wants_frame:
        return batch.as_frame()
    return batch.as_matrix()


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "string":
        return np.asarray([str(v) for v in values.tolist()], dtype=object) if values.dtype.kind != "O" else values
    return values.astype(dtype, copy=False)


def known_column_dtypes(model: Any) -> dict[str, str]:
    """Input columns whose dtype the fitted model reveals: those an encoder learned
    categories for (strings for text categories). Everything else stays float64."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[0][1]
    if not isinstance(model, ColumnTransformer):
        return {}
    known: dict[str, str] = {}
    for _, transformer, columns in getattr(model, "transformers_", ()):
        if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
            continue
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        for _, step in steps:
            categories = getattr(step, "categories_", None)
            if categories is not None and len(categories) == len(columns):
                for column, cats in zip(columns, categories, strict=True):
                    kind = np.asarray(cats).dtype.kind
                    known[column] = (
                        "string" if kind in ("O", "U", "S") else "int64" if kind in ("i", "u") else "float64"
                    )
                break
    return known


class SklearnFlavor(Flavor):
    """scikit-learn via skops; trusts the exact types of ``skops_trust.allowlist``."""

    name = "sklearn"

    def sniff(self, head: bytes, path: Path) -> bool:
        if not head.startswith(ZIP_MAGIC):
            return False
        declared = declared_members(path)
        if declared is not None and declared > skops_trust.MAX_MEMBERS:
            # Too many entries to list cheaply: claim it, so load refuses it with the reason.
            return True
        try:
            with zipfile.ZipFile(path) as zf:
                return SKOPS_SCHEMA in zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return False

    def can_save(self, obj: Any) -> bool:
        return any(
            cls.__module__.startswith("sklearn.") and cls.__name__ == "BaseEstimator" for cls in type(obj).__mro__
        )

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        import skops.io

        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / FILENAME
        try:
            skops.io.dump(obj, path)
        except Exception as exc:
            raise UnsupportedFormat(f"could not save {type(obj).__name__} with skops: {exc}") from exc
        required = self.required_trust(path)
        missing = [name for name in required if name not in trusted_types]
        if missing:
            raise UnsafeFormat(
                f"{type(obj).__name__} contains types that are not trusted: {', '.join(missing)}",
                hint=skops_trust.refusal_hint(missing),
                types=missing,
            )
        return SavedModel(path=path, flavor=self.name, trusted_types=required)

    def required_trust(self, path: Path) -> tuple[str, ...]:
        return skops_trust.beyond_allowlist(path)

    def load(self, path: Path, options: LoadOptions) -> SklearnModel:
        import skops.io

        trusted = skops_trust.trusted_for_load(path, options.trusted_types)
        try:
            model = skops.io.load(path, trusted=trusted)
        except Exception as exc:
            raise ModelLoadError(f"could not load {path.name} with skops: {skops_trust.short_reason(exc)}") from exc
        if not hasattr(model, "predict"):
            raise ModelLoadError(f"{path.name} holds a {type(model).__name__}, which has no predict method")
        logger.debug("loaded %s from %s", type(model).__name__, path)
        return SklearnModel(model)
