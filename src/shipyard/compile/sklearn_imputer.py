"""``SimpleImputer`` in double precision, and on text columns.

skl2onnx writes the ``ai.onnx.ml`` ``Imputer`` op, which ONNX Runtime implements for float32
and int64 only, so a double graph with an imputer would not load, and text imputers are not
converted at all. Both are written here and passed to ``convert_sklearn`` per call like the
tree converters:

- numeric imputers of NaN: one ``Where(IsNaN(x), statistics, x)``;
- text imputers (``most_frequent`` or ``constant``): a missing text value reaches the graph
  as ``MISSING_TEXT`` (the runtime feeds ``None`` and NaN so, see ``runtime.py``), and
  ``Where(LabelEncoder(x) == missing, statistics, x)`` replaces it, as scikit-learn replaces
  ``None`` and NaN in an object column.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import UnsupportedFormat

MISSING_TEXT = "\x00shipyard:missing"
"""How the compiled runtime feeds a missing (None or NaN) value of a text column."""
_BOOL = 9  # TensorProto.BOOL
_DOUBLE = 11  # TensorProto.DOUBLE


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and bool(np.isnan(value))


def _is_text(variable: Any) -> bool:
    return type(variable.type).__name__ == "StringTensorType"


def _check(imputer: Any) -> None:
    if getattr(imputer, "add_indicator", False):
        raise UnsupportedFormat("SimpleImputer with add_indicator is not compiled")


def _numeric(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    imputer = operator.raw_operator
    if not _is_nan(imputer.missing_values):
        raise UnsupportedFormat("SimpleImputer with missing_values other than NaN is not compiled")
    try:
        statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UnsupportedFormat("SimpleImputer with text statistics on a numeric column is not compiled") from exc
    if np.isnan(statistics).any():
        # scikit-learn drops all-NaN columns (keep_empty_features=False): a shape change.
        raise UnsupportedFormat("SimpleImputer with an all-missing column is not compiled")
    source = operator.inputs[0].full_name
    if type(operator.inputs[0].type).__name__ != "DoubleTensorType":
        cast = scope.get_unique_variable_name("imputer_double")
        container.add_node("Cast", [source], [cast], name=scope.get_unique_operator_name("Cast"), to=_DOUBLE)
        source = cast
    values = scope.get_unique_variable_name("imputer_statistics")
    container.add_initializer(values, TensorProto.DOUBLE, [1, len(statistics)], statistics.ravel())
    is_nan = scope.get_unique_variable_name("imputer_isnan")
    container.add_node("IsNaN", [source], [is_nan], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where", [is_nan, values, source], [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Where")
    )


def _text(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    imputer = operator.raw_operator
    missing = imputer.missing_values
    if missing is None or _is_nan(missing):
        key = MISSING_TEXT
    elif isinstance(missing, str):
        key = missing
    else:
        raise UnsupportedFormat(f"SimpleImputer on text columns with missing_values={missing!r} is not compiled")
    statistics = [s for s in np.asarray(imputer.statistics_, dtype=object).ravel().tolist()]
    if not all(isinstance(s, str) for s in statistics):
        # An all-missing column keeps NaN as its statistic (and scikit-learn drops it).
        raise UnsupportedFormat("SimpleImputer on a text column without a text statistic is not compiled")
    values = scope.get_unique_variable_name("imputer_statistics")
    container.add_initializer(values, TensorProto.STRING, [1, len(statistics)], [s.encode() for s in statistics])
    flags = scope.get_unique_variable_name("imputer_missing_flag")
    container.add_node(
        "LabelEncoder",
        [operator.inputs[0].full_name],
        [flags],
        name=scope.get_unique_operator_name("LabelEncoder"),
        op_domain="ai.onnx.ml",
        op_version=2,
        keys_strings=[key],
        values_int64s=[1],
        default_int64=0,
    )
    mask = scope.get_unique_variable_name("imputer_missing")
    container.add_node("Cast", [flags], [mask], name=scope.get_unique_operator_name("Cast"), to=_BOOL)
    container.add_node(
        "Where",
        [mask, values, operator.inputs[0].full_name],
        [operator.outputs[0].full_name],
        name=scope.get_unique_operator_name("Where"),
    )


def _converter(scope: Any, operator: Any, container: Any) -> None:
    _check(operator.raw_operator)
    if _is_text(operator.inputs[0]):
        _text(scope, operator, container)
    else:
        _numeric(scope, operator, container)


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    rows = operator.inputs[0].get_first_dimension()
    width = len(operator.raw_operator.statistics_)
    kind = StringTensorType if _is_text(operator.inputs[0]) else DoubleTensorType
    operator.outputs[0].type = kind([rows, width])


def custom_functions() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``(custom_conversion_functions, custom_shape_calculators)`` for ``SimpleImputer``."""
    from sklearn.impute import SimpleImputer

    return {SimpleImputer: _converter}, {SimpleImputer: _shapes}
