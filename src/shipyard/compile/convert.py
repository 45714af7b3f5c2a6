"""Converting a loaded native model to ONNX, per family; the converters load lazily.

``convert`` returns the serialized ONNX model with what the runtime needs to answer exactly
like the native model, written into the model's own ``metadata_props`` so that the
artifact is self-contained:

- ``shipyard.inputs``: ``{"kind": "matrix", "dtype": ...}`` (one ``X`` tensor, columns in
  signature order) or ``{"kind": "columns", "dtypes": {column: dtype}}`` (one ``[rows, 1]``
  tensor per column, as skl2onnx wants for column transformers);
- ``shipyard.outputs``: the native output names in the graph's output order;
- ``shipyard.label_classes`` (optional): the graph's labels are indices into these.

What to convert comes from the model's public hook, ``LoadedModel.compilable``: a library
object for one of the converters here (``NativeObject``, by its ``library``), or a graph the
flavor wrote itself (``OnnxGraph``). Anything that cannot be converted raises
``UnsupportedFormat`` with the reason, which the registry records; it is never a
registration failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata as pkg_metadata
from typing import Any

import numpy as np

from shipyard.errors import UnsupportedFormat
from shipyard.flavors.base import NativeObject, OnnxGraph
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


def _annotate(model: Any, inputs: Mapping[str, Any], outputs: list[str], classes: np.ndarray | None) -> bytes:
    from onnx import helper

    props = {INPUTS_KEY: json.dumps(inputs), OUTPUTS_KEY: json.dumps(outputs)}
    if classes is not None:
        props[CLASSES_KEY] = json.dumps(np.asarray(classes).tolist())
    helper.set_model_props(model, props)
    data: bytes = model.SerializeToString()
    return data


def convert(offered: NativeObject | OnnxGraph, signature: Signature, outputs: list[str]) -> Conversion:
    """The ONNX form of what a model offered (``LoadedModel.compilable``), registered with
    ``signature`` and answering ``outputs``; or ``UnsupportedFormat`` saying why not."""
    if isinstance(offered, OnnxGraph):
        kind = offered.inputs.get("kind")
        if kind not in ("matrix", "columns"):
            raise UnsupportedFormat(f"the flavor's ONNX graph has inputs of kind {kind!r} (matrix or columns)")
        from onnx import ModelProto

        graph = ModelProto()
        graph.CopyFrom(offered.model)  # annotated here: the flavor's own graph stays as it was
        classes = np.asarray(offered.classes) if offered.classes is not None else None
        data = _annotate(graph, offered.inputs, outputs, classes)
        return Conversion(data, offered.precision, dict(offered.converter))
    converter = _CONVERTERS.get(offered.library)
    if converter is None:
        raise UnsupportedFormat(f"no ONNX converter for {offered.library} objects")
    return converter(offered, signature, outputs)


def _lightgbm(native: NativeObject, signature: Signature, outputs: list[str]) -> Conversion:
    from shipyard.compile.boosters import lightgbm_graph

    graph = lightgbm_graph(native.model, native.classes)
    data = _annotate(graph, {"kind": "matrix", "dtype": "float64"}, outputs, native.classes)
    return Conversion(data, "float64", {"onnx": _version("onnx"), "shipyard": "TreeEnsemble/ai.onnx.ml-5"})


def _xgboost(native: NativeObject, signature: Signature, outputs: list[str]) -> Conversion:
    from shipyard.compile.boosters import xgboost_graph

    graph = xgboost_graph(native.model)
    data = _annotate(graph, {"kind": "matrix", "dtype": "float32"}, outputs, native.classes)
    return Conversion(data, "float32", {"onnxmltools": _version("onnxmltools"), "onnx": _version("onnx")})


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


def _sklearn(native: NativeObject, signature: Signature, outputs: list[str]) -> Conversion:
    from sklearn.base import is_classifier, is_regressor

    from shipyard.compile import sklearn_columns, sklearn_imputer, sklearn_trees

    model = native.model
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
    conversions: dict[Any, Any] = {}
    shapes: dict[Any, Any] = {}
    for module in (sklearn_trees, sklearn_imputer, sklearn_columns):
        more_conversions, more_shapes = module.custom_functions()
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
            custom_parsers=sklearn_columns.custom_parsers(),
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


_CONVERTERS: dict[str, Callable[[NativeObject, Signature, list[str]], Conversion]] = {
    "sklearn": _sklearn,
    "lightgbm": _lightgbm,
    "xgboost": _xgboost,
}
"""The built-in converters, by ``NativeObject.library``."""
