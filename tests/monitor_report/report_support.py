"""A served model with logged traffic and feedback, for the report tests: a real server, real
HTTP requests (the prediction log records them), labels, outcomes and a sensitive attribute
posted to ``/feedback``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from homes import open_home
from live_server import LiveServer

MODEL = "scoring"
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
"""A category value and a group name that would run if the report did not escape them."""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def frame(n: int, seed: int, *, shift: float = 0.0, plans: Sequence[str] = ("basic", "plus", "pro")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(np.float64) + shift,
            "income": rng.normal(50_000 + 1_000 * shift, 15_000, n),
            "plan": rng.choice(list(plans), n).astype(object),
        }
    )


def truth(data: pd.DataFrame) -> np.ndarray[Any, Any]:
    return ((data["age"] > 50) ^ (data["plan"] == "pro")).astype(np.int64).to_numpy()


def register(home: Path) -> None:
    """``scoring`` v1: a logistic regression on age, income and plan, registered with its
    training data (reference profile) and an evaluation metric."""
    train = frame(600, 0)
    y = truth(train)
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age", "income"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(train, y)
    svc = open_home(home)
    try:
        svc.registry.register(
            MODEL, model, sample=train.head(5), training_data=train, target=y, metrics={"accuracy": 0.99}
        )
    finally:
        svc.close()


def v2_inputs(data: pd.DataFrame) -> list[dict[str, Any]]:
    n = len(data)
    return [
        {"name": "age", "shape": [n], "datatype": "FP64", "data": data["age"].tolist()},
        {"name": "income", "shape": [n], "datatype": "FP64", "data": data["income"].tolist()},
        {"name": "plan", "shape": [n], "datatype": "BYTES", "data": data["plan"].tolist()},
    ]


@dataclass
class Sent:
    request_id: str
    data: pd.DataFrame
    predicted: list[int]


def send(client: httpx.Client, data: pd.DataFrame, *, rows: int = 5) -> list[Sent]:
    """``data`` in requests of ``rows`` rows; the answered requests."""
    sent = []
    for start in range(0, len(data), rows):
        part = data.iloc[start : start + rows].reset_index(drop=True)
        response = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": v2_inputs(part)})
        assert response.status_code == 200, response.text
        predicted = next(o["data"] for o in response.json()["outputs"] if o["name"] == "predict")
        sent.append(Sent(response.headers["x-request-id"], part, [int(v) for v in predicted]))
    return sent


def send_bad(client: httpx.Client, count: int) -> None:
    """Requests that fail validation (logged as errors)."""
    for _ in range(count):
        response = client.post(
            f"/v2/models/{MODEL}/infer",
            json={"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
        )
        assert response.status_code == 400, response.text


def give_feedback(client: httpx.Client, sent: Sequence[Sent], *, groups: Sequence[str]) -> list[tuple[int, int]]:
    """Labels, a revenue outcome and a ``segment`` attribute for every row of ``sent``;
    the (label, predicted) pairs given."""
    items = []
    pairs = []
    for i, request in enumerate(sent):
        labels = truth(request.data)
        for row in range(len(request.data)):
            pairs.append((int(labels[row]), request.predicted[row]))
            items.append(
                {
                    "request_id": request.request_id,
                    "row": row,
                    "label": int(labels[row]),
                    "outcomes": {"revenue": float(10 + (i + row) % 7)},
                    "attributes": {"segment": groups[(i + row) % len(groups)]},
                }
            )
    for start in range(0, len(items), 500):
        response = client.post("/feedback", json={"items": items[start : start + 500]})
        assert response.status_code in (200, 201), response.text
    return pairs


def serve(home: Path, **settings: str) -> LiveServer:
    values = {"log_mode": "sync", "monitor_interval_seconds": "1", "log_compact_seconds": "3600", **settings}
    return LiveServer(home, [MODEL], settings=values)


def chromium_available() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)
