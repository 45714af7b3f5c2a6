"""LightGBM boosters in LightGBM's own text format (``booster_.save_model``).

Whether the booster classifies or regresses comes from the ``objective=`` line of the
file's header. LightGBM knows only class indices, so real labels (``LGBMClassifier``
accepts strings) come from ``metadata["classes"]``, recorded when a live model is saved.

Thread safety: calls into one booster are serialised with a lock. LightGBM already spreads
a single prediction over all cores with OpenMP, so the lock costs little, and it keeps us
independent of which LightGBM releases make concurrent predicts on one handle safe.
"""

from __future__ import annotations

import logging
import re
import threading
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

FILENAME = "model.txt"
MAGIC = b"tree\nversion="
_CLASSIFICATION = frozenset({"binary", "multiclass", "multiclassova"})
_DEFAULT_NAME = re.compile(r"^Column_\d+$")
_HEADER_LIMIT = 1 << 20


def read_header(path: Path) -> dict[str, str]:
    """The ``key=value`` lines before the first tree (objective, num_class, feature names)."""
    header: dict[str, str] = {}
    read = 0
    with path.open("rb") as fh:
        for raw in fh:
            read += len(raw)
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.startswith("Tree=") or read > _HEADER_LIMIT:
                break
            key, sep, value = line.partition("=")
            if sep:
                header[key] = value
    return header


class LightGBMModel(LoadedModel):
    flavor = "lightgbm"

    def __init__(self, booster: Any, header: dict[str, str], classes: np.ndarray | None) -> None:
        self._booster = booster
        self._lock = threading.Lock()
        self._classes = classes
        names = header.get("feature_names", "").split()
        self._feature_names = None if all(_DEFAULT_NAME.match(n) for n in names) else names
        self._n_features = int(booster.num_feature())
        self._outputs = regressor_specs() if classes is None else classifier_specs(classes, with_proba=True)

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._outputs

    def input_signature(self) -> Signature:
        return numbered_columns(self._n_features, self._feature_names)

    def compilable(self, signature: Signature) -> NativeObject:
        return NativeObject("lightgbm", self._booster, self._classes)

    def predict(self, batch: Batch) -> Outputs:
        matrix = batch.as_matrix(np.float64)
        with self._lock:
            raw = np.asarray(self._booster.predict(matrix, validate_features=False), dtype=np.float64)
        if self._classes is None:
            return {PREDICT: raw}
        proba = raw if raw.ndim == 2 else binary_proba(raw)
        return {PREDICT: labels_from_proba(proba, self._classes), PREDICT_PROBA: proba}


class LightGBMFlavor(Flavor):
    """LightGBM's native text model files."""

    name = "lightgbm"

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.startswith(MAGIC)

    def can_save(self, obj: Any) -> bool:
        names = {f"{c.__module__}.{c.__name__}" for c in type(obj).__mro__}
        return bool(names & {"lightgbm.sklearn.LGBMModel", "lightgbm.basic.Booster"})

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / FILENAME
        booster = getattr(obj, "booster_", obj)
        try:
            booster.save_model(str(path))
        except Exception as exc:
            raise UnsupportedFormat(f"could not save the LightGBM model: {exc}") from exc
        metadata: dict[str, Any] = {}
        classes = getattr(obj, "classes_", None)
        if classes is not None:
            metadata[CLASSES_KEY] = np.asarray(classes).tolist()
        return SavedModel(path=path, flavor=self.name, metadata=metadata)

    def load(self, path: Path, options: LoadOptions) -> LightGBMModel:
        import lightgbm

        try:
            header = read_header(path)
            booster = lightgbm.Booster(model_file=str(path))
        except Exception as exc:
            raise ModelLoadError(f"LightGBM could not load {path.name}: {exc}") from exc
        objective = header.get("objective", "").split(" ")[0]
        classes = None
        if objective in _CLASSIFICATION:
            n_classes = int(header.get("num_class", "1"))
            classes = classes_from_metadata(options.metadata, max(n_classes, 2))
        logger.debug("loaded LightGBM booster %s (objective %s)", path, objective or "unknown")
        return LightGBMModel(booster, header, classes)
