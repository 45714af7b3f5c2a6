"""``ColumnTransformer`` in double precision, text columns included.

Two places where skl2onnx falls back to float32 on text columns, and what is done instead:

- ``OneHotEncoder`` writes float32 (int64 for an integer ``dtype``) whatever the rest of the
  graph computes in; next to double branches (imputers, scalers) the ``Concat`` then mixes
  double and float, which ONNX Runtime refuses to load. scikit-learn's ``hstack`` upcasts to
  float64, and one-hot values (0, 1, counts of infrequent categories) are exact in double, so
  the encoder's result is cast to double: skl2onnx's converter writes into an intermediate
  name, then one ``Cast``.
- The ``ColumnTransformer``'s merged output takes the type its parser guesses from the first
  branch: float32 when that branch reads text, and the estimator after it is then declared
  float32 too. A numeric merged output is declared double here, at parse time (skl2onnx's
  ``Concat`` casts every branch to the declared type).
"""

from __future__ import annotations

from typing import Any

_DOUBLE = 11  # TensorProto.DOUBLE


class _Redirected:
    """``operator`` as skl2onnx's encoder converter sees it, writing to ``name`` instead."""

    def __init__(self, operator: Any, name: str) -> None:
        self.raw_operator = operator.raw_operator
        self.inputs = operator.inputs
        self.output_full_names = [name]


def _converter(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.operator_converters.one_hot_encoder import convert_sklearn_one_hot_encoder

    encoded = scope.get_unique_variable_name("onehot_encoded")
    convert_sklearn_one_hot_encoder(scope, _Redirected(operator, encoded), container)
    container.add_node(
        "Cast", [encoded], [operator.outputs[0].full_name], name=scope.get_unique_operator_name("Cast"), to=_DOUBLE
    )


def _shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.shape_calculators.one_hot_encoder import calculate_sklearn_one_hot_encoder_output_shapes

    calculate_sklearn_one_hot_encoder_output_shapes(operator)
    operator.outputs[0].type = DoubleTensorType(operator.outputs[0].type.shape)


def _parse_column_transformer(scope: Any, model: Any, inputs: Any, custom_parsers: Any = None) -> Any:
    from skl2onnx._parse import _parse_sklearn_column_transformer
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    outputs = _parse_sklearn_column_transformer(scope, model, inputs, custom_parsers=custom_parsers)
    for variable in outputs:
        if isinstance(variable.type, FloatTensorType):
            variable.type = DoubleTensorType(variable.type.shape)
    return outputs


def custom_parsers() -> dict[Any, Any]:
    """``custom_parsers`` for ``convert_sklearn``: ``ColumnTransformer`` declared double."""
    from sklearn.compose import ColumnTransformer

    return {ColumnTransformer: _parse_column_transformer}


def custom_functions() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """``(custom_conversion_functions, custom_shape_calculators)`` for ``OneHotEncoder``."""
    from sklearn.preprocessing import OneHotEncoder

    return {OneHotEncoder: _converter}, {OneHotEncoder: _shapes}
