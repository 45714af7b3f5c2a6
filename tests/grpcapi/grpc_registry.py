"""A registry with real models (built once per session) and a server with gRPC on (one per test module)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from homes import open_home
from live_server import LiveServer, create_key, free_port
from shipyard.rollout.service import apply_spec

COLUMNS = ("a", "b", "c", "d")
AB_SPEC = """\
deployment: ab
variants:
  one: {model: plain/1, role: arm, weight: 50}
  two: {model: plain/2, role: arm, weight: 50}
experiment: {sticky_key: {header: X-User-Id}, metric: conversion, min_detectable_effect: 0.02, alpha: 0.05, power: 0.8}
"""


def numeric_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name in COLUMNS})
    y = (frame["a"] + frame["b"] > 0).astype(np.int64).to_numpy()
    return frame, y


def mixed_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n).astype(np.float64),
            "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        }
    )
    y = ((frame["age"] > 50) ^ (frame["plan"] == "pro")).astype(np.int64).to_numpy()
    return frame, y


def build_registry(home: Path) -> dict[str, object]:
    svc = open_home(home)
    try:
        frame, y = numeric_frame(300)
        lr = LogisticRegression(max_iter=1000).fit(frame, y)
        svc.registry.register("lr", lr, sample=frame.head(5), training_data=frame, target=y)
        mixed_x, mixed_y = mixed_frame(300)
        pre = ColumnTransformer([("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["plan"])])
        mixed = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(mixed_x, mixed_y)
        svc.registry.register("mixed", mixed, sample=mixed_x.head(5), training_data=mixed_x, target=mixed_y)
        matrix = frame.to_numpy()
        plain = LogisticRegression(max_iter=1000).fit(matrix, y)
        svc.registry.register("plain", plain, sample=matrix[:5])
        constant = DummyClassifier(strategy="constant", constant=1).fit(matrix, y)
        svc.registry.register("plain", constant, sample=matrix[:5], compile=False)
        apply_spec(svc.store, AB_SPEC, actor="user:test", reason="test")
    finally:
        svc.close()
    return {"lr": lr, "mixed": mixed, "plain": plain, "constant": constant}


@pytest.fixture(scope="session")
def registry_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    home = tmp_path_factory.mktemp("home")
    return home, build_registry(home)


@pytest.fixture(scope="session")
def models(registry_home: tuple[Path, dict[str, object]]) -> dict[str, object]:
    return registry_home[1]


@pytest.fixture(scope="module")
def server(registry_home: tuple[Path, dict[str, object]]) -> Iterator[LiveServer]:
    home, _ = registry_home
    # Requests over 1 kB are converted on a thread: the tests reach both paths.
    settings = {
        "grpc_port": str(free_port()),
        "max_body_bytes": "65536",
        "max_rows": "500",
        "offload_body_bytes": "1024",
    }
    with LiveServer(home, ["lr", "mixed", "plain/1", "ab"], settings=settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def grpc_url(server: LiveServer) -> str:
    return f"127.0.0.1:{server.settings['grpc_port']}"


@pytest.fixture(scope="module")
def auth(server: LiveServer) -> dict[str, str]:
    """gRPC metadata carrying the admin key."""
    return {"authorization": f"Bearer {server.api_key}"}


@pytest.fixture(scope="module")
def key_for(server: LiveServer) -> Callable[..., dict[str, str]]:
    """gRPC metadata carrying a new key of ``role`` on ``models``."""

    def make(role: str, models: tuple[str, ...] = ("*",)) -> dict[str, str]:
        return {"authorization": f"Bearer {create_key(server.home, role, models)}"}

    return make


@pytest.fixture(scope="module")
def stub(grpc_url: str) -> Iterator[service_pb2_grpc.GRPCInferenceServiceStub]:
    """The generated stub on a plain channel: for requests tritonclient cannot build."""
    with grpc.insecure_channel(grpc_url) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def typed_request(model: str, frame: pd.DataFrame, **fields: object) -> pb.ModelInferRequest:
    """A ``ModelInferRequest`` with one typed-contents tensor per column of ``frame``."""
    request = pb.ModelInferRequest(model_name=model, **fields)
    for name in frame.columns:
        values = frame[name].to_numpy()
        tensor = request.inputs.add(name=name, shape=[len(values)])
        if values.dtype == object:
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend(str(v).encode() for v in values)
        else:
            tensor.datatype = "FP64"
            tensor.contents.fp64_contents.extend(values.tolist())
    return request


def metadata(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(headers.items())
