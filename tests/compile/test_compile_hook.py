"""``LoadedModel.compilable``: the one public hook a flavor opts into compilation with.

A flavor written outside ``shipyard.compile`` compiles by handing over a graph it wrote
(``OnnxGraph``) or a library object one of the built-in converters takes (``NativeObject``);
without the hook, or with a refusal, the native form serves and the reason says why."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression

from shipyard.compile import COMPILED, NATIVE, compile_model, runtime_statement
from shipyard.compile.rows import batch_from_data
from shipyard.errors import UnsupportedFormat
from shipyard.flavors.base import LoadedModel, NativeObject, OnnxGraph
from shipyard.flavors.classifier_outputs import regressor_specs
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature

WEIGHTS = np.array([0.5, -2.0, 3.25])


class Linear(LoadedModel):
    """A made-up flavor: ``X @ WEIGHTS``, with whatever ``compilable`` the test gives it."""

    flavor = "linear"

    def __init__(self, offer: object = None) -> None:
        self.offer = offer

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return regressor_specs()

    def predict(self, batch: Batch) -> Outputs:
        return {"predict": batch.as_matrix(np.float64) @ WEIGHTS}

    def compilable(self, signature: Signature) -> NativeObject | OnnxGraph | None:
        if isinstance(self.offer, Exception):
            raise self.offer
        return self.offer  # type: ignore[return-value]


def _graph() -> object:
    weights = helper.make_tensor("w", TensorProto.DOUBLE, [3, 1], WEIGHTS.tolist())
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [-1])
    nodes = [helper.make_node("MatMul", ["X", "w"], ["y2"]), helper.make_node("Reshape", ["y2", "shape"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [None])],
        [weights, shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


SIGNATURE = Signature(kind="columns", inputs=tuple(FieldSpec(f"x{i}", "float64") for i in range(3))).with_outputs(
    regressor_specs()
)


def _rows(n: int = 50) -> Batch:
    data = np.random.default_rng(0).normal(size=(n, 3))
    return batch_from_data(SIGNATURE, data, max_rows=n)


def test_a_flavor_compiles_with_the_graph_it_wrote() -> None:
    offer = OnnxGraph(_graph(), {"kind": "matrix", "dtype": "float64"}, converter={"linear": "1.0"})
    outcome = compile_model(Linear(offer), SIGNATURE, [_rows()], data="rows")
    assert outcome.serving_runtime == COMPILED, outcome.error
    assert outcome.report["converter"] == {"linear": "1.0"} and outcome.report["rows_checked"] == 50
    statement = runtime_statement(outcome.serving_runtime, outcome.error, outcome.report)
    assert statement == "compiled (agrees with the native model on 50 rows)"


def test_a_flavor_hands_a_library_object_to_a_built_in_converter() -> None:
    data = np.random.default_rng(1).normal(size=(40, 3))
    fitted = LinearRegression().fit(data, data @ WEIGHTS)
    outcome = compile_model(Linear(NativeObject("sklearn", fitted)), SIGNATURE, [_rows()], data="rows")
    assert outcome.serving_runtime == COMPILED, outcome.error


@pytest.mark.parametrize(
    ("offer", "reason"),
    [
        (None, "no ONNX converter for linear models"),
        (UnsupportedFormat("the weights are secret"), "not compiled: the weights are secret"),
        (NativeObject("torch", object()), "failed to convert: no ONNX converter for torch objects"),
        (OnnxGraph(_graph(), {"kind": "rows"}), "failed to convert: the flavor's ONNX graph has inputs of kind 'rows'"),
        (OnnxGraph(helper.make_model(helper.make_graph([], "empty", [], [])), {"kind": "matrix"}), "failed to convert"),
    ],
    ids=["no-hook", "refused", "unknown-library", "bad-input-kind", "broken-graph"],
)
def test_without_a_usable_offer_the_native_form_serves_and_says_why(offer: object, reason: str) -> None:
    outcome = compile_model(Linear(offer), SIGNATURE, [_rows()], data="rows")
    assert outcome.serving_runtime == NATIVE
    assert outcome.error is not None and outcome.error.startswith(reason), outcome.error
    assert runtime_statement(outcome.serving_runtime, outcome.error, outcome.report) == f"native ({outcome.error})"


def test_a_graph_that_answers_otherwise_is_refused_with_the_count() -> None:
    wrong = _graph()
    wrong.graph.initializer[0].CopyFrom(helper.make_tensor("w", TensorProto.DOUBLE, [3, 1], [0.5, -2.0, 3.0]))
    outcome = compile_model(Linear(OnnxGraph(wrong, {"kind": "matrix"})), SIGNATURE, [_rows()], data="rows")
    assert outcome.serving_runtime == NATIVE
    assert outcome.error is not None and outcome.error.startswith("disagreed on "), outcome.error
    assert outcome.model_bytes is not None  # kept for review


def test_without_rows_nothing_is_claimed() -> None:
    offer = OnnxGraph(_graph(), {"kind": "matrix", "dtype": "float64"})
    outcome = compile_model(Linear(offer), SIGNATURE, [], data="no rows")
    assert outcome.serving_runtime == NATIVE
    assert outcome.error is not None and outcome.error.startswith("not checked: no rows")
    assert outcome.report["rows_checked"] == 0
