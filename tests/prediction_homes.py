"""Homes for the feedback and prediction-log tests (``tests/feedback``, ``tests/predlog_read``):
three small models, a live server over them, and helpers to predict over HTTP and keep the
request ids."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression

from homes import open_home
from live_server import LiveServer, create_key
from shipyard.sdk.payloads import v2_request

N_FEATURES = 4


def build_home(home: Path, registry_url: str | None = None) -> None:
    """``clf`` (integer labels 0/1, with predict_proba), ``txt`` (string labels) and ``reg``
    (a regression), each version 1, on the same four columns."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, N_FEATURES))
    y = (X[:, 0] > 0).astype(np.int64)
    overrides = {"registry_url": registry_url} if registry_url else {}
    svc = open_home(home, **overrides)
    try:
        svc.registry.register(
            "clf",
            LogisticRegression().fit(X, y),
            sample=X[:3],
            training_data=X,
            target=y,
            metrics={"accuracy": 0.93},
            compile=False,
        )
        labels = np.where(y == 1, "yes", "no")
        svc.registry.register("txt", LogisticRegression().fit(X, labels), sample=X[:3], compile=False)
        svc.registry.register("reg", LinearRegression().fit(X, X[:, 1] * 2.0), sample=X[:3], compile=False)
    finally:
        svc.close()


def start_server(home: Path, registry_url: str | None, **settings: str) -> LiveServer:
    values = {"access_log": "false", **settings}
    if registry_url:
        values["registry_url"] = registry_url
    return LiveServer(home, ["clf", "txt", "reg"], settings=values).start()


def key_for(server: LiveServer, role: str, models: tuple[str, ...] = ("*",)) -> str:
    env = {"SHIPYARD_REGISTRY_URL": server.settings["registry_url"]} if "registry_url" in server.settings else {}
    return create_key(server.home, role, models, env=env)


def predict(
    server: LiveServer, model: str, rows: int = 1, *, token: str | None = None, key: str | None = None, seed: int = 0
) -> tuple[str, dict[str, Any]]:
    """(request id, response body) of a V2 prediction of ``rows`` rows."""
    X = np.random.default_rng(seed).normal(size=(rows, N_FEATURES))
    headers = {"Authorization": f"Bearer {token or server.api_key}"}
    if key is not None:
        headers["X-Prediction-Key"] = key
    response = httpx.post(f"{server.url}/v2/models/{model}/infer", json=v2_request(X), headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"], response.json()


def post(server: LiveServer, body: Any, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or server.api_key}"}
    if isinstance(body, bytes | str):
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{server.url}/feedback", content=body, headers=headers, timeout=30, **kwargs)
    return httpx.post(f"{server.url}/feedback", json=body, headers=headers, timeout=30, **kwargs)


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
