"""Every supported family compiles at registration, serves compiled, and answers on held-out
rows exactly like its native model: same output names, dtypes and shapes, identical labels,
probabilities and values within the stated tolerance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm
import pytest
import xgboost
from compile_support import Split, assert_same_answers
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from shipyard.bootstrap import Services


def _mixed_pipeline(final: Any) -> Any:
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    columns = ColumnTransformer(
        [
            ("num", numeric, ["age", "income", "score"]),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
            ("plan", OrdinalEncoder(), ["plan"]),
        ]
    )
    return make_pipeline(columns, final)


# (case id, data fixture, model factory)
CASES: list[tuple[str, str, Callable[[], Any]]] = [
    ("logistic-binary-frame", "cancer", lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
    ("logistic-multiclass-strings", "iris_named", lambda: LogisticRegression(max_iter=2000)),
    ("linear-regression", "diabetes", LinearRegression),
    ("ridge-minmax", "diabetes", lambda: make_pipeline(MinMaxScaler(), Ridge(alpha=0.5))),
    ("decision-tree-classifier", "synthetic", lambda: DecisionTreeClassifier(random_state=0)),
    ("decision-tree-regressor", "diabetes", lambda: DecisionTreeRegressor(random_state=0)),
    ("random-forest-100", "cancer", lambda: RandomForestClassifier(n_estimators=100, random_state=0)),
    ("random-forest-strings", "iris_named", lambda: RandomForestClassifier(n_estimators=30, random_state=0)),
    ("random-forest-regressor", "diabetes", lambda: RandomForestRegressor(n_estimators=50, random_state=0)),
    ("extra-trees", "synthetic", lambda: ExtraTreesClassifier(n_estimators=50, random_state=0)),
    ("gradient-boosting-binary", "cancer", lambda: GradientBoostingClassifier(n_estimators=50, random_state=0)),
    ("gradient-boosting-multiclass", "synthetic", lambda: GradientBoostingClassifier(n_estimators=30, random_state=0)),
    ("gradient-boosting-regressor", "diabetes", lambda: GradientBoostingRegressor(random_state=0)),
    ("hist-gradient-boosting-binary", "cancer", lambda: HistGradientBoostingClassifier(max_iter=50, random_state=0)),
    ("hist-gradient-boosting-multiclass", "synthetic", lambda: HistGradientBoostingClassifier(max_iter=30)),
    ("hist-gradient-boosting-regressor", "diabetes", lambda: HistGradientBoostingRegressor(max_iter=50)),
    ("column-transformer-logistic", "mixed", lambda: _mixed_pipeline(LogisticRegression(max_iter=2000))),
    ("column-transformer-forest", "mixed", lambda: _mixed_pipeline(RandomForestClassifier(50, random_state=0))),
    ("xgboost-binary", "cancer", lambda: xgboost.XGBClassifier(n_estimators=50, max_depth=4)),
    ("xgboost-multiclass", "synthetic", lambda: xgboost.XGBClassifier(n_estimators=30, max_depth=4)),
    ("xgboost-regressor", "diabetes", lambda: xgboost.XGBRegressor(n_estimators=50, max_depth=4)),
    ("lightgbm-binary", "cancer", lambda: lightgbm.LGBMClassifier(n_estimators=50, verbose=-1)),
    ("lightgbm-multiclass-strings", "iris_named", lambda: lightgbm.LGBMClassifier(n_estimators=30, verbose=-1)),
    ("lightgbm-regressor", "diabetes", lambda: lightgbm.LGBMRegressor(n_estimators=50, verbose=-1)),
]


@pytest.mark.parametrize(("case", "dataset", "factory"), CASES, ids=[c[0] for c in CASES])
def test_family_compiles_and_agrees_on_held_out_rows(
    services: Services, request: pytest.FixtureRequest, case: str, dataset: str, factory: Callable[[], Any]
) -> None:
    split: Split = request.getfixturevalue(dataset)
    model = factory().fit(split.X_train, split.y_train)
    version = services.registry.register(
        case, model, sample=split.X_train[:5], training_data=split.X_train, target=split.y_train
    )
    assert version.compile_error is None, version.compile_error
    assert version.serving_runtime == "compiled"
    compiled = version.compiled
    assert compiled is not None and compiled.runtime == "onnxruntime"
    report = compiled.report
    assert report["agreed"] is True
    assert report["rows_checked"] == len(split.X_train) + 5
    assert "training data" in report["data"]
    assert compiled.artifact.sha256 != version.artifact.sha256
    # auto serves the compiled form, answering like the native one on rows it never saw
    loaded = services.registry.load_version(version)
    assert loaded.flavor == "compiled" and loaded.row_independent
    diffs = assert_same_answers(services, version, split.X_test)
    print(f"{case}: max abs diff {diffs}, one-row native {report.get('native_one_row_us')} us, "
          f"compiled {report.get('compiled_one_row_us')} us")  # fmt: skip
