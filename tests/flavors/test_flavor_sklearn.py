"""scikit-learn through skops: round trips, outputs, DataFrame pipelines, type trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from shipyard.errors import UnsafeFormat
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.sklearn import SklearnFlavor
from shipyard.flavors.skops_trust import is_allowlisted
from shipyard.schema.batch import Batch

CLASSIFIERS = {
    "logistic": lambda: LogisticRegression(max_iter=1000),
    "random-forest": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
    "k-neighbours": lambda: KNeighborsClassifier(),
    "scaled-pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    # predict() derived from one predict_proba() pass for these: must equal their own predict().
    "decision-tree": lambda: DecisionTreeClassifier(max_depth=3, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
    "forest-pipeline": lambda: make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)),
}


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_classifier_round_trip_matches_original(make: Any, iris: Any, roundtrip: Any) -> None:
    X, y = iris
    model = make().fit(X, y)
    saved, loaded = roundtrip(model)
    out = loaded.predict_array(X)
    assert saved.trusted_types == ()
    assert set(out) == {"predict", "predict_proba"}
    np.testing.assert_array_equal(out["predict"], model.predict(X))
    assert out["predict"].dtype == np.int64
    np.testing.assert_array_equal(out["predict_proba"], model.predict_proba(X))
    assert out["predict_proba"].dtype == np.float64
    assert [(s.name, s.dtype, s.shape) for s in loaded.outputs] == [
        ("predict", "int64", (-1,)),
        ("predict_proba", "float64", (-1, 3)),
    ]


def test_string_class_labels_survive(iris: Any, iris_named_labels: np.ndarray, roundtrip: Any) -> None:
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(iris[0], iris_named_labels)
    _, loaded = roundtrip(model)
    out = loaded.predict_array(iris[0])
    assert loaded.outputs[0].dtype == "string"
    assert out["predict"].dtype == object
    assert list(out["predict"]) == list(model.predict(iris[0]))


@pytest.mark.parametrize(
    "make",
    [lambda: Ridge(), lambda: RandomForestRegressor(n_estimators=5, random_state=0)],
    ids=["ridge", "random-forest"],
)
def test_regressor_gives_float64_predict(make: Any, diabetes: Any, roundtrip: Any) -> None:
    X, y = diabetes
    model = make().fit(X, y)
    _, loaded = roundtrip(model)
    out = loaded.predict_array(X)
    assert [s.name for s in loaded.outputs] == ["predict"]
    assert out["predict"].dtype == np.float64
    np.testing.assert_allclose(out["predict"], model.predict(X))


def test_clusterer_predict_is_int64(iris: Any, roundtrip: Any) -> None:
    model = KMeans(n_clusters=3, n_init=2, random_state=0).fit(iris[0])
    _, loaded = roundtrip(model)
    out = loaded.predict_array(iris[0])
    assert out["predict"].dtype == np.int64
    np.testing.assert_array_equal(out["predict"], model.predict(iris[0]))


def test_numpy_fitted_model_describes_numbered_columns(iris: Any, roundtrip: Any) -> None:
    _, loaded = roundtrip(LogisticRegression(max_iter=500).fit(*iris))
    signature = loaded.input_signature()
    assert signature is not None
    assert signature.input_names == ("x0", "x1", "x2", "x3")
    assert not signature.frame
    assert {f.dtype for f in signature.inputs} == {"float64"}


def test_dataframe_pipeline_with_categorical_column(customers: Any, roundtrip: Any) -> None:
    frame, churn = customers
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("num", StandardScaler(), ["tenure", "charges"]), ("cat", OneHotEncoder(), ["plan"])]
                ),
            ),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(frame, churn)
    _, loaded = roundtrip(model)
    signature = loaded.input_signature()
    assert signature is not None and signature.frame
    assert [(f.name, f.dtype) for f in signature.inputs] == [
        ("tenure", "float64"),
        ("charges", "float64"),
        ("plan", "string"),
    ]
    batch = Batch(signature, columns={c: frame[c].to_numpy() for c in frame.columns})
    out = loaded.predict(batch)
    np.testing.assert_array_equal(out["predict"], model.predict(frame))
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(frame))


class Doubler(TransformerMixin, BaseEstimator):
    """A registrant's own transformer: not scikit-learn's, so skops must be told to trust it."""

    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X) * 2.0


@pytest.fixture
def custom_pipeline(iris: Any) -> Pipeline:
    return make_pipeline(Doubler(), LogisticRegression(max_iter=1000)).fit(*iris)


def test_custom_type_is_refused_until_trusted(custom_pipeline: Pipeline, iris: Any, tmp_path: Path) -> None:
    flavor = SklearnFlavor()
    custom = f"{Doubler.__module__}.Doubler"
    with pytest.raises(UnsafeFormat) as refused_save:
        flavor.save(custom_pipeline, tmp_path)
    assert custom in str(refused_save.value)
    assert f"--trust-type {custom}" in (refused_save.value.hint or "")

    saved = flavor.save(custom_pipeline, tmp_path, trusted_types=(custom,))
    assert saved.trusted_types == (custom,)
    assert flavor.required_trust(saved.path) == (custom,)
    with pytest.raises(UnsafeFormat, match="Doubler"):
        flavor.load(saved.path, LoadOptions())
    loaded = flavor.load(saved.path, LoadOptions(trusted_types=(custom,)))
    np.testing.assert_array_equal(loaded.predict_array(iris[0])["predict"], custom_pipeline.predict(iris[0]))


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", True),
        ("sklearn.neighbors._kd_tree.KDTree", True),
        ("numpy.ndarray", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("sklearn.utils.validation.check_array", True),
        ("sklearn.utils.validation.check_is_fitted", False),
        ("numpy.memmap", False),
        ("numpy.load", False),
        ("numpy.testing.TestCase", False),
        ("builtins.eval", False),
        ("os.system", False),
        ("sklearnx.Model", False),
        ("sklearn.tree._tree.NoSuchThing", False),
        ("sklearn", False),
    ],
    ids=[
        "tree",
        "hist-tree-predictor",
        "kd-tree",
        "ndarray",
        "csr",
        "listed-function",
        "unlisted-function",
        "memmap",
        "numpy-load",
        "test-tooling",
        "builtins",
        "os",
        "lookalike-package",
        "missing",
        "bare-package",
    ],
)
def test_allowlist_names_exact_types(name: str, allowed: bool) -> None:
    assert is_allowlisted(name) is allowed


def test_loaded_model_answers_frame_inputs_given_as_dataframe(customers: Any, roundtrip: Any) -> None:
    frame, churn = customers
    model = make_pipeline(
        ColumnTransformer([("num", "passthrough", ["tenure", "charges"])]), LogisticRegression(max_iter=1000)
    ).fit(frame[["tenure", "charges"]], churn)
    _, loaded = roundtrip(model)
    subset = pd.DataFrame(frame[["tenure", "charges"]])
    np.testing.assert_array_equal(loaded.predict_array(subset)["predict"], model.predict(subset))
