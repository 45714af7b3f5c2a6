"""XGBoost (JSON and UBJ) and LightGBM (text): classifier or regressor from the objective,
labels from metadata, predictions equal to the live model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb

from shipyard.errors import ModelLoadError
from shipyard.flavors import catalog
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.lightgbm import LightGBMFlavor
from shipyard.flavors.xgboost import XGBoostFlavor

DATASETS = ["iris", "cancer"]


@pytest.mark.parametrize("dataset", DATASETS, ids=["multiclass", "binary"])
def test_xgboost_classifier_round_trip(dataset: str, request: pytest.FixtureRequest, roundtrip: Any) -> None:
    X, y = request.getfixturevalue(dataset)
    model = xgb.XGBClassifier(n_estimators=5, max_depth=3).fit(X, y)
    saved, loaded = roundtrip(model)
    assert saved.flavor == "xgboost"
    assert saved.metadata["classes"] == sorted(set(y.tolist()))
    out = loaded.predict_array(X)
    np.testing.assert_array_equal(out["predict"], model.predict(X))
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(X), rtol=1e-6)
    assert out["predict"].dtype == np.int64 and out["predict_proba"].dtype == np.float64


@pytest.mark.parametrize("suffix", [".json", ".ubj"], ids=["json", "ubj"])
def test_xgboost_native_files_are_detected(suffix: str, diabetes: Any, tmp_path: Path) -> None:
    X, y = diabetes
    model = xgb.XGBRegressor(n_estimators=5).fit(X, y)
    path = tmp_path / f"model{suffix}"
    model.save_model(path)
    flavor = catalog.detect(path)
    assert flavor.name == "xgboost"
    loaded = flavor.load(path, LoadOptions())
    assert [(s.name, s.dtype) for s in loaded.outputs] == [("predict", "float64")]
    out = loaded.predict_array(X)["predict"]
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-6)


def test_xgboost_labels_come_from_metadata(iris: Any, tmp_path: Path) -> None:
    X, y = iris
    names = ["setosa", "versicolor", "virginica"]
    booster = xgb.XGBClassifier(n_estimators=5).fit(X, y)
    path = tmp_path / "model.ubj"
    booster.save_model(path)
    loaded = XGBoostFlavor().load(path, LoadOptions(metadata={"classes": names}))
    assert loaded.outputs[0].dtype == "string"
    out = loaded.predict_array(X)
    assert list(out["predict"]) == [names[i] for i in booster.predict(X)]


def test_xgboost_refuses_metadata_with_the_wrong_class_count(iris: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    xgb.XGBClassifier(n_estimators=2).fit(*iris).save_model(path)
    with pytest.raises(ModelLoadError, match="2 classes"):
        XGBoostFlavor().load(path, LoadOptions(metadata={"classes": ["a", "b"]}))


@pytest.mark.parametrize("dataset", DATASETS, ids=["multiclass", "binary"])
def test_lightgbm_classifier_round_trip(dataset: str, request: pytest.FixtureRequest, roundtrip: Any) -> None:
    X, y = request.getfixturevalue(dataset)
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
    saved, loaded = roundtrip(model)
    assert saved.flavor == "lightgbm"
    out = loaded.predict_array(X)
    np.testing.assert_array_equal(out["predict"], model.predict(X))
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(X), rtol=1e-9)


def test_lightgbm_string_labels_survive(iris: Any, iris_named_labels: np.ndarray, roundtrip: Any) -> None:
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(iris[0], iris_named_labels)
    saved, loaded = roundtrip(model)
    assert saved.metadata["classes"] == ["setosa", "versicolor", "virginica"]
    out = loaded.predict_array(iris[0])
    assert loaded.outputs[0].dtype == "string"
    assert list(out["predict"]) == list(model.predict(iris[0]))


def test_lightgbm_regressor_from_booster_file(diabetes: Any, tmp_path: Path) -> None:
    X, y = diabetes
    model = lgb.LGBMRegressor(n_estimators=5, verbose=-1, n_jobs=1).fit(X, y)
    path = tmp_path / "model.txt"
    model.booster_.save_model(path)
    flavor = catalog.detect(path)
    assert flavor.name == "lightgbm"
    loaded = flavor.load(path, LoadOptions())
    assert [s.name for s in loaded.outputs] == ["predict"]
    np.testing.assert_allclose(loaded.predict_array(X)["predict"], model.predict(X))
    signature = loaded.input_signature()
    assert signature is not None and signature.input_names[0] == "x0"


def test_lightgbm_keeps_dataframe_feature_names(customers: Any, roundtrip: Any) -> None:
    frame, churn = customers
    numeric = frame[["tenure", "charges"]]
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(numeric, churn)
    _, loaded = roundtrip(model)
    signature = loaded.input_signature()
    assert signature is not None and signature.input_names == ("tenure", "charges")
    np.testing.assert_array_equal(loaded.predict_array(numeric)["predict"], model.predict(numeric))


def test_live_booster_objects_choose_their_native_format(iris: Any, tmp_path: Path) -> None:
    booster = xgb.XGBClassifier(n_estimators=2).fit(*iris).get_booster()
    assert catalog.for_object(booster).name == "xgboost"
    lgb_booster = lgb.LGBMClassifier(n_estimators=2, verbose=-1, n_jobs=1).fit(*iris).booster_
    assert catalog.for_object(lgb_booster).name == "lightgbm"
    saved = LightGBMFlavor().save(lgb_booster, tmp_path)
    assert saved.metadata == {}
