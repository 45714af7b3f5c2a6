"""The mixed-type pipeline users train on a DataFrame: median-imputed and scaled numeric
columns, most-frequent-imputed and one-hot text columns, logistic regression. It compiles,
agrees with scikit-learn (missing numbers and missing text included), and serves compiled
through KServe V2 (one tensor per column), KServe V1 and MLflow's scoring protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from compile_support import Split, assert_same_answers, split
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from homes import open_home
from live_server import LiveServer
from shipyard.bootstrap import Services
from shipyard.compile import compile_model
from shipyard.compile.rows import batch_from_data
from shipyard.flavors.sklearn import SklearnModel
from shipyard.schema.signature import FieldSpec, Signature

NUMERIC = ["age", "income"]
TEXT = ["city", "plan"]


def _pipeline() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                TEXT,
            ),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=2000))


@pytest.fixture(scope="module")
def data() -> Split:
    rng = np.random.default_rng(7)
    n = 1000
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "income": rng.lognormal(10, 0.6, n),
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
            "plan": rng.choice(["free", "pro", "team"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan
    logit = 0.05 * (frame.age.fillna(40) - 40) + (frame.city == "paris") * 0.8 - (frame.plan == "free") * 0.5
    y = (logit + rng.normal(0, 0.5, n) > 0).astype(np.int64)
    return split(frame, pd.Series(y))


@pytest.fixture(scope="module")
def model(data: Split) -> Pipeline:
    return _pipeline().fit(data.X_train, data.y_train)


def test_the_mixed_pipeline_compiles_and_agrees_on_held_out_rows(
    services: Services, data: Split, model: Pipeline
) -> None:
    version = services.registry.register(
        "mixed", model, sample=data.X_train[:5], training_data=data.X_train, target=data.y_train
    )
    assert version.compile_error is None, version.compile_error
    assert version.serving_runtime == "compiled"
    assert version.compiled is not None and version.compiled.report["disagreed_rows"] == 0
    assert services.registry.load_version(version).flavor == "compiled"
    assert_same_answers(services, version, data.X_test)


def test_missing_text_is_imputed_alike(model: Pipeline, data: Split) -> None:
    # None and NaN in a text column are missing to scikit-learn's imputer: the compiled
    # form must replace them with the same most frequent value.
    native = SklearnModel(model)
    inputs = (
        FieldSpec("age", "float64", nullable=True),
        FieldSpec("income", "float64"),
        FieldSpec("city", "string", nullable=True),
        FieldSpec("plan", "string"),
    )
    signature = Signature(kind="columns", inputs=inputs, frame=True).with_outputs(native.outputs)
    columns: dict[str, Any] = {c: data.X_test[c].to_numpy() for c in data.X_test.columns}
    city = columns["city"].astype(object).copy()
    city[::4] = None
    columns["city"] = city
    outcome = compile_model(native, signature, [batch_from_data(signature, columns)], data="held-out rows")
    assert outcome.error is None, outcome.error
    assert outcome.report["rows_checked"] == len(data.X_test) and outcome.report["disagreed_rows"] == 0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, data: Split, model: Pipeline) -> Any:
    home = tmp_path_factory.mktemp("home")
    services = open_home(home)
    try:
        version = services.registry.register(
            "mixed", model, sample=data.X_train[:5], training_data=data.X_train, target=data.y_train
        )
        assert version.serving_runtime == "compiled"
    finally:
        services.close()
    with LiveServer(Path(home), ["mixed"]) as server:
        yield server


def _rows(data: Split) -> pd.DataFrame:
    return data.X_test.iloc[:20].reset_index(drop=True)


def _json_rows(rows: pd.DataFrame) -> list[list[Any]]:
    return [[None if isinstance(v, float) and np.isnan(v) else v for v in row] for row in rows.itertuples(index=False)]


def test_served_compiled_through_every_protocol(served: LiveServer, data: Split, model: Pipeline) -> None:
    rows = _rows(data)
    want_labels = model.predict(rows).tolist()
    want_proba = model.predict_proba(rows)
    table = _json_rows(rows)
    columns = list(rows.columns)
    with served.client(timeout=30) as client:
        meta = client.get("/v2/models/mixed").json()
        assert [i["name"] for i in meta["inputs"]] == columns
        v2 = client.post(
            "/v2/models/mixed/infer",
            json={
                "inputs": [
                    {
                        "name": name,
                        "shape": [len(rows)],
                        "datatype": "BYTES" if name in TEXT else "FP64",
                        "data": [row[i] for row in table],
                    }
                    for i, name in enumerate(columns)
                ]
            },
        )
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o for o in v2.json()["outputs"]}
        assert outputs["predict"]["data"] == want_labels
        assert np.allclose(np.asarray(outputs["predict_proba"]["data"]).reshape(-1, 2), want_proba, atol=1e-9)
        records = [dict(zip(columns, row, strict=True)) for row in table]
        v1 = client.post("/v1/models/mixed:predict", json={"instances": records})
        assert v1.status_code == 200, v1.text
        assert v1.json()["predictions"] == want_labels
        mlflow = client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": table}})
        assert mlflow.status_code == 200, mlflow.text
        assert _labels(mlflow.json()) == want_labels


def _labels(body: Any) -> list[Any]:
    predictions = body["predictions"] if isinstance(body, dict) else body
    if isinstance(predictions, dict):
        return list(predictions["predict"])
    if predictions and isinstance(predictions[0], dict):
        return [p["predict"] for p in predictions]
    return list(predictions)


def test_missing_text_in_the_training_frame_never_fails_a_registration(services: Services, data: Split) -> None:
    # pandas keeps a missing text value as NaN. Whether or not the training rows can be sent
    # as a request, registering must succeed and the compiled form be checked on what can.
    frame = data.X_train.copy()
    frame.loc[3::17, "city"] = np.nan
    model = _pipeline().fit(frame, data.y_train)
    version = services.registry.register(
        "mixed-nan", model, sample=frame.iloc[:5], training_data=frame, target=data.y_train
    )
    assert version.serving_runtime == "compiled", version.compile_error
    assert version.compiled is not None and version.compiled.report["rows_checked"] >= 5


def _text_first() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), TEXT),
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), NUMERIC),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=2000))


def _remainder() -> Pipeline:
    columns = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", drop="first"), TEXT)],
        remainder=make_pipeline(SimpleImputer(), StandardScaler()),
    )
    return make_pipeline(columns, LogisticRegression(max_iter=2000))


@pytest.mark.parametrize("factory", [_text_first, _remainder], ids=["text-branch-first", "remainder-pipeline"])
def test_column_transformer_layouts_compile(data: Split, factory: Any) -> None:
    # skl2onnx declares a ColumnTransformer's output float32 when its first branch reads
    # text; the estimator after it must still be declared (and compute) in double.
    native = SklearnModel(factory().fit(data.X_train, data.y_train))
    signature = Signature(
        kind="columns",
        inputs=(
            FieldSpec("age", "float64", nullable=True),
            FieldSpec("income", "float64"),
            FieldSpec("city", "string"),
            FieldSpec("plan", "string"),
        ),
        frame=True,
    ).with_outputs(native.outputs)
    outcome = compile_model(native, signature, [batch_from_data(signature, data.X_test)], data="held-out rows")
    assert outcome.error is None, outcome.error
    assert outcome.report["disagreed_rows"] == 0
