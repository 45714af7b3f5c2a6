"""ONNX through onnxruntime: skl2onnx classifiers (with and without ZipMap), regressors,
multi-input graphs, input signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from shipyard.flavors import catalog
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.onnx import OnnxFlavor, OnnxModel
from shipyard.schema.batch import Batch


def _classifier(iris: Any, labels: np.ndarray, *, zipmap: bool) -> tuple[LogisticRegression, onnx.ModelProto]:
    X = iris[0].astype(np.float32)
    model = LogisticRegression(max_iter=1000).fit(X, labels)
    options = None if zipmap else {id(model): {"zipmap": False}}
    return model, to_onnx(model, X[:1], options=options, target_opset=17)


@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "no-zipmap"])
@pytest.mark.parametrize("named", [True, False], ids=["string-labels", "int-labels"])
def test_skl2onnx_classifier_round_trip(
    zipmap: bool, named: bool, iris: Any, iris_named_labels: np.ndarray, roundtrip: Any
) -> None:
    labels = iris_named_labels if named else iris[1]
    model, proto = _classifier(iris, labels, zipmap=zipmap)
    _, loaded = roundtrip(proto)
    X = iris[0].astype(np.float32)
    out = loaded.predict_array(X)
    label_name, proba_name = (s.name for s in loaded.outputs)
    assert "label" in label_name and "probab" in proba_name
    assert set(out) == {label_name, proba_name}
    np.testing.assert_array_equal(out[label_name], model.predict(X))
    assert out[proba_name].shape == (len(X), 3)
    np.testing.assert_allclose(out[proba_name], model.predict_proba(X), atol=1e-5)
    assert loaded.outputs[1].shape == (-1, 3)
    assert loaded.outputs[0].dtype == ("string" if named else "int64")


def test_single_float_input_becomes_numbered_columns(iris: Any, roundtrip: Any) -> None:
    _, proto = _classifier(iris, iris[1], zipmap=False)
    _, loaded = roundtrip(proto)
    assert isinstance(loaded, OnnxModel)
    signature = loaded.input_signature()
    assert signature.kind == "columns"
    assert signature.input_names == ("x0", "x1", "x2", "x3")
    assert {f.dtype for f in signature.inputs} == {"float32"}
    assert loaded.graph_input_names == ("X",)


def test_regressor_round_trip(diabetes: Any, roundtrip: Any) -> None:
    X = diabetes[0].astype(np.float32)
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, diabetes[1])
    _, loaded = roundtrip(to_onnx(model, X[:1], target_opset=17))
    (spec,) = loaded.outputs
    out = loaded.predict_array(X)[spec.name]
    np.testing.assert_allclose(out.reshape(-1), model.predict(X), rtol=1e-4)


def _two_input_graph() -> onnx.ModelProto:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 2])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 2])
    total = helper.make_tensor_value_info("total", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["total"])], "add", [a, b], [total])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_multiple_inputs_give_a_tensors_signature(tmp_path: Path) -> None:
    flavor = OnnxFlavor()
    saved = flavor.save(_two_input_graph(), tmp_path)
    loaded = flavor.load(saved.path, LoadOptions())
    signature = loaded.input_signature()
    assert signature.kind == "tensors"
    assert [(f.name, f.dtype, f.shape) for f in signature.inputs] == [
        ("a", "float32", (-1, 2)),
        ("b", "float32", (-1, 2)),
    ]
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = loaded.predict(Batch(signature, tensors={"a": a, "b": a}))
    np.testing.assert_array_equal(out["total"], a * 2)


def test_thread_count_is_overridable_from_metadata(tmp_path: Path, iris: Any) -> None:
    _, proto = _classifier(iris, iris[1], zipmap=False)
    saved = OnnxFlavor().save(proto, tmp_path)
    loaded = catalog.detect(saved.path).load(saved.path, LoadOptions(metadata={"onnx_intra_op_threads": 2}))
    assert loaded.predict_array(iris[0].astype(np.float32))["label"].shape == (150,)
