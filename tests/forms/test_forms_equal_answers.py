"""Every request form gives the answers the 2-D form gives, over a real server.

Three DataFrame-trained models: numeric (six float columns, logistic regression), mixed
(a ColumnTransformer imputing and scaling two numeric columns and one-hot encoding a text
one) and text only (two one-hot text columns). Each is asked the same rows as V2 tensors
(one 2-D tensor; one tensor per column as the metadata advertises, JSON and binary, the
latter through tritonclient), as MLflow ``dataframe_split`` / ``dataframe_records`` /
``instances`` / ``inputs`` / CSV, and as KServe V1 rows, records and column dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tritonclient.utils import InferenceServerException

from homes import open_home
from live_server import LiveServer

ROWS = (1, 7)
NUMERIC = [f"f{i}" for i in range(6)]


def _frames(n: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    numeric = pd.DataFrame({name: rng.normal(i, 1 + i, n) for i, name in enumerate(NUMERIC)})
    mixed = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(1),
            "income": rng.lognormal(10, 0.6, n),
            "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
        }
    )
    text = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
            "size": rng.choice(["s", "m", "l", "xl"], n).astype(object),
        }
    )
    return {"numeric": numeric, "mixed": mixed, "text": text}


def _train(home: Path) -> dict[str, Any]:
    frames = _frames(400, seed=0)
    rng = np.random.default_rng(1)
    numeric = frames["numeric"]
    y_numeric = (numeric["f0"] - 0.5 * numeric["f3"] + rng.normal(0, 0.5, len(numeric)) > 0).astype(np.int64)
    mixed = frames["mixed"].copy()
    mixed.loc[rng.random(len(mixed)) < 0.1, "age"] = np.nan  # age is nullable in the signature
    y_mixed = ((mixed["age"].fillna(40) > 45) ^ (mixed["city"] == "nice")).astype(np.int64)
    text = frames["text"]
    y_text = ((text["colour"] == "red") | (text["size"] == "xl")).astype(np.int64)
    models = {
        "numeric": LogisticRegression(max_iter=1000).fit(numeric, y_numeric),
        "mixed": make_pipeline(
            ColumnTransformer(
                [
                    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), ["age", "income"]),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                ]
            ),
            LogisticRegression(max_iter=1000),
        ).fit(mixed, y_mixed),
        "text": make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=1000)).fit(
            text, y_text
        ),
    }
    training = {"numeric": (numeric, y_numeric), "mixed": (mixed, y_mixed), "text": (text, y_text)}
    svc = open_home(home)
    try:
        for name, model in models.items():
            x, y = training[name]
            svc.registry.register(name, model, sample=x, training_data=x, target=y)
    finally:
        svc.close()
    return models


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    return home, _train(home)


@pytest.fixture(scope="module")
def server(trained: tuple[Path, dict[str, Any]]) -> Iterator[LiveServer]:
    home, _ = trained
    with LiveServer(home, ["numeric", "mixed", "text"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def triton_client(server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


Answer = dict[str, np.ndarray]


def _v2_answer(response: httpx.Response) -> Answer:
    assert response.status_code == 200, response.text
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]}


def _predictions(response: httpx.Response) -> Answer:
    assert response.status_code == 200, response.text
    return {"predict": np.asarray(response.json()["predictions"])}


def _datatype(column: pd.Series) -> str:
    return "FP64" if column.dtype.kind == "f" else "BYTES"


def _json_values(column: pd.Series) -> list[Any]:
    return column.tolist()


def v2_two_d(server: LiveServer, name: str, frame: pd.DataFrame, triton_client: Any) -> Answer:
    kinds = {_datatype(frame[c]) for c in frame.columns}
    if len(kinds) != 1:
        pytest.skip("a 2-D V2 tensor has one datatype: the mixed model has no 2-D V2 form")
    body = {
        "inputs": [
            {
                "name": "input-0",
                "datatype": kinds.pop(),
                "shape": list(frame.shape),
                "data": frame.to_numpy().ravel().tolist(),
            }
        ]
    }
    return _v2_answer(httpx.post(f"{server.url}/v2/models/{name}/infer", json=body, headers=server.auth_headers))


def v2_columns_json(server: LiveServer, name: str, frame: pd.DataFrame, triton_client: Any) -> Answer:
    """One tensor per column, named and typed as the model's metadata advertises."""
    metadata = httpx.get(f"{server.url}/v2/models/{name}", headers=server.auth_headers).json()
    inputs = [
        {"name": i["name"], "datatype": i["datatype"], "shape": [len(frame)], "data": _json_values(frame[i["name"]])}
        for i in metadata["inputs"]
    ]
    response = httpx.post(f"{server.url}/v2/models/{name}/infer", json={"inputs": inputs}, headers=server.auth_headers)
    return _v2_answer(response)


def _triton(binary: bool) -> Callable[..., Answer]:
    def ask(server: LiveServer, name: str, frame: pd.DataFrame, client: triton.InferenceServerClient) -> Answer:
        metadata = client.get_model_metadata(name, headers=server.auth_headers)
        inputs = []
        for spec in metadata["inputs"]:
            column = frame[spec["name"]].to_numpy()
            tensor = triton.InferInput(spec["name"], [len(frame)], spec["datatype"])
            values = column.astype(object) if spec["datatype"] == "BYTES" else column.astype(np.float64)
            tensor.set_data_from_numpy(values, binary_data=binary)
            inputs.append(tensor)
        outputs = [triton.InferRequestedOutput(o["name"], binary_data=binary) for o in metadata["outputs"]]
        result = client.infer(name, inputs, outputs=outputs, headers=server.auth_headers)
        return {o["name"]: result.as_numpy(o["name"]) for o in metadata["outputs"]}

    return ask


def _post(path: str, pick: Callable[[pd.DataFrame], Any], *, csv: bool = False) -> Callable[..., Answer]:
    def ask(server: LiveServer, name: str, frame: pd.DataFrame, triton_client: Any) -> Answer:
        url = server.url + path.format(name=name)
        if csv:
            headers = {**server.auth_headers, "Content-Type": "text/csv"}
            response = httpx.post(url, content=frame.to_csv(index=False).encode(), headers=headers)
        else:
            response = httpx.post(url, json=pick(frame), headers=server.auth_headers)
        return _predictions(response)

    return ask


def _split(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {c: frame[c].tolist() for c in frame.columns}


MLFLOW = "/models/{name}/invocations"
V1 = "/v1/models/{name}:predict"
FORMS: dict[str, Callable[..., Answer]] = {
    "v2-columns-json": v2_columns_json,
    "v2-columns-triton-json": _triton(binary=False),
    "v2-columns-triton-binary": _triton(binary=True),
    "mlflow-split": _post(MLFLOW, lambda f: {"dataframe_split": _split(f)}),
    "mlflow-records": _post(MLFLOW, lambda f: {"dataframe_records": _records(f)}),
    "mlflow-instances": _post(MLFLOW, lambda f: {"instances": _records(f)}),
    "mlflow-inputs": _post(MLFLOW, lambda f: {"inputs": _columns(f)}),
    "mlflow-csv": _post(MLFLOW, lambda f: None, csv=True),
    "v1-rows": _post(V1, lambda f: {"instances": f.to_numpy().tolist()}),
    "v1-records": _post(V1, lambda f: {"instances": _records(f)}),
    "v1-inputs": _post(V1, lambda f: {"inputs": _columns(f)}),
}


def _expected(models: dict[str, Any], name: str, frame: pd.DataFrame) -> Answer:
    model = models[name]
    return {"predict": model.predict(frame), "predict_proba": model.predict_proba(frame)}


def _assert_same(got: Answer, want: Answer, *, form: str) -> None:
    for output, values in got.items():
        expected = want[output]
        if values.dtype.kind in "iub" or expected.dtype.kind in "iub":
            np.testing.assert_array_equal(values, expected, err_msg=f"{form}: {output}")
        else:
            np.testing.assert_allclose(values, expected, rtol=1e-7, atol=1e-9, err_msg=f"{form}: {output}")


@pytest.mark.parametrize("rows", ROWS, ids=[f"{n}-rows" for n in ROWS])
@pytest.mark.parametrize("model", ["numeric", "mixed", "text"])
@pytest.mark.parametrize("form", list(FORMS), ids=list(FORMS))
def test_every_form_answers_as_the_two_d_form(
    server: LiveServer,
    trained: tuple[Path, dict[str, Any]],
    triton_client: triton.InferenceServerClient,
    form: str,
    model: str,
    rows: int,
) -> None:
    _, models = trained
    frame = _frames(rows, seed=42)[model]
    got = FORMS[form](server, model, frame, triton_client)
    if model != "mixed":
        # The 2-D tensor is the reference form; it must itself agree with the model.
        reference = v2_two_d(server, model, frame, triton_client)
        _assert_same(reference, _expected(models, model, frame), form="v2-2d")
        _assert_same(got, reference, form=form)
    _assert_same(got, _expected(models, model, frame), form=form)


def _nan_frame() -> pd.DataFrame:
    frame = _frames(3, seed=5)["mixed"]
    frame.loc[1, "age"] = np.nan
    return frame


def test_triton_json_nan_passes_a_nullable_column(
    server: LiveServer, trained: tuple[Path, dict[str, Any]], triton_client: triton.InferenceServerClient
) -> None:
    """tritonclient's JSON mode writes NaN as a bare token; a nullable column takes it."""
    frame = _nan_frame()
    got = _triton(binary=False)(server, "mixed", frame, triton_client)
    _assert_same(got, _expected(trained[1], "mixed", frame), form="triton-json-nan")


@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "not nullable"), (np.inf, "infinite"), (-np.inf, "infinite")],
    ids=["nan", "infinity", "minus-infinity"],
)
def test_triton_json_nan_tokens_refused_where_the_signature_says(
    server: LiveServer, triton_client: triton.InferenceServerClient, value: float, message: str
) -> None:
    frame = _nan_frame()
    frame.loc[0, "income"] = value
    with pytest.raises(InferenceServerException) as caught:
        _triton(binary=False)(server, "mixed", frame, triton_client)
    assert "income" in str(caught.value) and message in str(caught.value)
    assert caught.value.status() == "400"


def test_nan_token_in_an_integer_or_text_tensor_is_refused(server: LiveServer) -> None:
    body = (
        b'{"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], "data": [NaN]},'
        b'{"name": "income", "datatype": "FP64", "shape": [1], "data": [1.0]},'
        b'{"name": "city", "datatype": "BYTES", "shape": [1], "data": [NaN]}]}'
    )
    response = httpx.post(f"{server.url}/v2/models/mixed/infer", content=body, headers=server.auth_headers)
    assert response.status_code == 400, response.text
    assert "'city'" in response.json()["error"] and "float" in response.json()["error"]


def test_nan_token_is_still_not_json_elsewhere(server: LiveServer) -> None:
    """Only V2 reads the tokens (tritonclient writes them); a broken body stays broken."""
    response = httpx.post(
        f"{server.url}/v2/models/numeric/infer", content=b'{"inputs": [NaN', headers=server.auth_headers
    )
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
