"""Converting a loaded native model to ONNX, per family; the converters load lazily.

``convert`` returns the serialized ONNX model with what the runtime needs to answer exactly
like the native model, written into the model's own ``metadata_props`` so that the
artifact is self-contained:

- ``shipyard.inputs``: ``{"kind": "matrix", "dtype": ...}`` (one ``X`` tensor, columns in
  signature order) or ``{"kind": "columns", "dtypes": {column: dtype}}`` (one ``[rows, 1]``
  tensor per column, as skl2onnx wants for column transformers);
- ``shipyard.outputs``: the native output names in the graph's output order;
- ``shipyard.label_classes`` (optional): the graph's labels are indices into these.

Anything that cannot be converted raises ``UnsupportedFormat`` with the reason, which the
registry records; it is never a registration failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as pkg_metadata
from typing import Any

import numpy as np

from shipyard.errors import UnsupportedFormat
from shipyard.flavors.base import LoadedModel
from shipyard.schema.signature import Signature

INPUTS_KEY = "shipyard.inputs"
OUTPUTS_KEY = "shipyard.outputs"
CLASSES_KEY = "shipyard.label_classes"
SKLEARN_OPSET = {"": 18, "ai.onnx.ml": 3}
_FLOATS = frozenset({"float64", "float32", "float16"})
_INTS = frozenset({"int64", "int32", "int16", "int8", "uint8", "uint16", "uint32"})


@dataclass(frozen=True)
class Conversion:
    """A converted model: ONNX bytes and how they were made."""

    model_bytes: bytes
    precision: str
    """``float64`` when the graph computes in double, ``float32`` when the library itself does."""
    converter: Mapping[str, str] = field(default_factory=dict)
    """Versions of the packages that wrote the graph."""


def _version(package: str) -> str:
    try:
        return pkg_metadata.version(package)
    except pkg_metadata.PackageNotFoundError:
        return "unknown"


def _native(loaded: LoadedModel, attribute: str) -> Any:
    # The flavors keep their library object private; reading it here avoids loading twice.
    value = getattr(loaded, attribute, None)
    if value is None:
        raise UnsupportedFormat(f"the loaded {loaded.flavor} model does not expose its {attribute.strip('_')}")
    return value


def _annotate(model: Any, inputs: Mapping[str, Any], outputs: list[str], classes: np.ndarray | None) -> bytes:
    from onnx import helper

    props = {INPUTS_KEY: json.dumps(inputs), OUTPUTS_KEY: json.dumps(outputs)}
    if classes is not None:
        props[CLASSES_KEY] = json.dumps(np.asarray(classes).tolist())
    helper.set_model_props(model, props)
    data: bytes = model.SerializeToString()
    return data


def convert(loaded: LoadedModel, signature: Signature) -> Conversion:
    """The ONNX form of ``loaded`` (registered with ``signature``), or ``UnsupportedFormat``."""
    if signature.kind != "columns":
        raise UnsupportedFormat("only models with a columns signature are compiled")
    outputs = [spec.name for spec in loaded.outputs]
    if loaded.flavor == "sklearn":
        return _sklearn(_native(loaded, "_model"), signature, outputs)
    if loaded.flavor == "lightgbm":
        from shipyard.compile.boosters import lightgbm_graph

        classes = getattr(loaded, "_classes", None)
        graph = lightgbm_graph(_native(loaded, "_booster"), classes)
        data = _annotate(graph, {"kind": "matrix", "dtype": "float64"}, outputs, classes)
        return Conversion(data, "float64", {"onnx": _version("onnx"), "shipyard": "TreeEnsemble/ai.onnx.ml-5"})
    if loaded.flavor == "xgboost":
        from shipyard.compile.boosters import xgboost_graph

        graph = xgboost_graph(_native(loaded, "_booster"))
        classes = getattr(loaded, "_classes", None)
        data = _annotate(graph, {"kind": "matrix", "dtype": "float32"}, outputs, classes)
        return Conversion(data, "float32", {"onnxmltools": _version("onnxmltools"), "onnx": _version("onnx")})
    if loaded.flavor == "onnx":
        raise UnsupportedFormat("the model is already ONNX")
    raise UnsupportedFormat(f"no ONNX converter for {loaded.flavor} models")


def _column_inputs(model: Any) -> bool:
    """True when the model selects columns by name (a ColumnTransformer at its start)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[0][1]
    return isinstance(model, ColumnTransformer)


def _final(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _sklearn(model: Any, signature: Signature, outputs: list[str]) -> Conversion:
    from sklearn.base import is_classifier, is_regressor

    from shipyard.compile import sklearn_imputer, sklearn_trees

    final = _final(model)
    if not (is_classifier(final) or is_regressor(final)):
        raise UnsupportedFormat(f"{type(final).__name__} is neither a classifier nor a regressor")
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, Int64TensorType, StringTensorType
    except ImportError as exc:
        raise UnsupportedFormat("compiling scikit-learn models needs skl2onnx") from exc
    dtypes = {f.name: f.dtype for f in signature.inputs}
    if _column_inputs(model) or not set(dtypes.values()) <= _FLOATS:
        initial: list[tuple[str, Any]] = []
        for name, dtype in dtypes.items():
            if dtype in _FLOATS:
                initial.append((name, DoubleTensorType([None, 1])))
            elif dtype in _INTS:
                initial.append((name, Int64TensorType([None, 1])))
            elif dtype == "string":
                initial.append((name, StringTensorType([None, 1])))
            else:
                raise UnsupportedFormat(f"input column {name!r} has dtype {dtype}, which is not compiled")
        inputs: dict[str, Any] = {"kind": "columns", "dtypes": dtypes}
    else:
        initial = [("X", DoubleTensorType([None, len(dtypes)]))]
        inputs = {"kind": "matrix", "dtype": "float64"}
    conversions, shapes = sklearn_trees.custom_functions()
    more_conversions, more_shapes = sklearn_imputer.custom_functions()
    conversions.update(more_conversions)
    shapes.update(more_shapes)
    options = {id(final): {"zipmap": False}} if is_classifier(final) else None
    try:
        graph = convert_sklearn(
            model,
            initial_types=initial,
            target_opset=SKLEARN_OPSET,
            options=options,
            custom_conversion_functions=conversions,
            custom_shape_calculators=shapes,
        )
    except UnsupportedFormat:
        raise
    except Exception as exc:
        # skl2onnx reports unsupported models with RuntimeError/NameError/..., sometimes with
        # a dump of every attribute: keep the first line, shortened.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnsupportedFormat(f"skl2onnx cannot convert {type(model).__name__}: {first[:200]}") from exc
    sklearn_trees.raise_ml_opset(graph)
    data = _annotate(graph, inputs, outputs, None)
    versions = {"skl2onnx": _version("skl2onnx"), "onnx": _version("onnx"), "shipyard": "TreeEnsemble/ai.onnx.ml-5"}
    return Conversion(data, "float64", versions)
