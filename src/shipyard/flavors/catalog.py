"""Every model format Shipyard knows, and how to pick one.

- ``detect(path)``: the flavor of a file, from its content only (never its extension,
  never by running it).
- ``get(name)``: a flavor by name, for ``--flavor`` overrides.
- ``for_object(obj)``: the safe format to save a live object in, so that
  ``register_model("churn", model)`` never writes a pickle.

Importing this module is cheap: each flavor imports its library only when it needs it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shipyard.errors import UnsupportedFormat
from shipyard.flavors.base import Flavor
from shipyard.flavors.lightgbm import LightGBMFlavor
from shipyard.flavors.onnx import OnnxFlavor
from shipyard.flavors.pickle import PickleFlavor
from shipyard.flavors.pyclass import PyClassFlavor
from shipyard.flavors.sklearn import SklearnFlavor
from shipyard.flavors.xgboost import XGBoostFlavor

logger = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024
"""How much of a file ``sniff`` sees: enough for every header a flavor looks at."""

_FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor
    for flavor in (
        SklearnFlavor(),
        OnnxFlavor(),
        XGBoostFlavor(),
        LightGBMFlavor(),
        PyClassFlavor(),
        PickleFlavor(),
    )
}
FLAVOR_NAMES: tuple[str, ...] = tuple(_FLAVORS)

# Cheap byte checks first; ONNX parses protobuf, so it goes last of the real formats.
# Pickle comes after the formats whose magic cannot collide with its own.
_DETECTION_ORDER = ("sklearn", "python", "lightgbm", "xgboost", "pickle", "onnx")
# The live-object order matters: XGBoost and LightGBM models are also scikit-learn
# estimators, and should be saved in their own native formats; anything else with
# ``predict`` is a Python-class model.
_SAVE_ORDER = ("xgboost", "lightgbm", "onnx", "sklearn", "python")

_SUPPORTED_HINT = (
    "supported formats: scikit-learn saved with skops, ONNX, XGBoost JSON/UBJ, LightGBM text, "
    "a Python-class model package, or pickle/joblib (with --trust-pickle); "
    f"name the format with --flavor ({', '.join(FLAVOR_NAMES)}) if detection is wrong"
)


def get(name: str) -> Flavor:
    """The flavor called ``name`` (one of ``FLAVOR_NAMES``)."""
    try:
        return _FLAVORS[name]
    except KeyError:
        raise UnsupportedFormat(
            f"unknown model flavor {name!r}", hint=f"use one of {', '.join(FLAVOR_NAMES)}"
        ) from None


def all_flavors() -> tuple[Flavor, ...]:
    return tuple(_FLAVORS.values())


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def detect(path: Path) -> Flavor:
    """The flavor of the model file at ``path``, judged from its content."""
    if not path.is_file():
        raise UnsupportedFormat(f"{path.name} is not a file", hint="register a single model file")
    head = read_head(path)
    if not head:
        raise UnsupportedFormat(f"{path.name} is empty", hint=_SUPPORTED_HINT)
    for name in _DETECTION_ORDER:
        flavor = _FLAVORS[name]
        if flavor.sniff(head, path):
            logger.debug("detected %s as %s", path, name)
            return flavor
    raise UnsupportedFormat(f"{path.name} is not a model format Shipyard recognises", hint=_SUPPORTED_HINT)


def for_object(obj: Any) -> Flavor:
    """The flavor that saves ``obj`` safely (never pickle)."""
    for name in _SAVE_ORDER:
        flavor = _FLAVORS[name]
        if flavor.can_save(obj):
            return flavor
    raise UnsupportedFormat(
        f"cannot save a {type(obj).__name__}: it is not a known model type and has no predict method",
        hint="save it in a supported format yourself and register the file",
    )
