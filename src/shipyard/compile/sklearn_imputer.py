"""``SimpleImputer`` in double precision.

skl2onnx writes the ``ai.onnx.ml`` ``Imputer`` op, which ONNX Runtime implements for float32
and int64 only, so a double graph with an imputer would not load. For numeric imputers of
NaN the replacement is one ``Where(IsNaN(x), statistics, x)``, written here and passed to
``convert_sklearn`` per call like the tree converters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import UnsupportedFormat


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    imputer = operator.raw_operator
    missing = imputer.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)):
        raise UnsupportedFormat("SimpleImputer with missing_values other than NaN is not compiled")
    if getattr(imputer, "add_indicator", False):
        raise UnsupportedFormat("SimpleImputer with add_indicator is not compiled")
    statistics = np.asarray(imputer.statistics_, dtype=np.float64)
    if np.isnan(statistics).any():
        # scikit-learn drops all-NaN columns (keep_empty_features=False): a shape change.
        raise UnsupportedFormat("SimpleImputer with an all-missing column is not compiled")
    source = operator.inputs[0].full_name
    if type(operator.inputs[0].type).__name__ == "StringTensorType":
        raise UnsupportedFormat("SimpleImputer on text columns is not compiled")
    if type(operator.inputs[0].type).__name__ != "DoubleTensorType":
        cast = scope.get_unique_variable_name("imputer_double")
        container.add_node("Cast", [source], [cast], name=scope.get_unique_operator_name("Cast"), to=11)
        source = cast
    values = scope.get_unique_variable_name("imputer_statistics")
    container.add_initializer(values, TensorProto.DOUBLE, [1, len(statistics)], statistics.ravel())
    is_nan = scope.get_unique_variable_name("imputer_isnan")
    container.add_node("IsNaN", [source], [is_nan], name=scope.get_unique_operator_name("IsNaN"))
    container.add_node(
        "Where", [is_nan, values, source], [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Where")
    )


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType

    rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([rows, len(operator.raw_operator.statistics_)])


def custom_functions() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``(custom_conversion_functions, custom_shape_calculators)`` for ``SimpleImputer``."""
    from sklearn.impute import SimpleImputer

    return {SimpleImputer: _converter}, {SimpleImputer: _shapes}
