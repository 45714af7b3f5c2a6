"""Fixtures for the tracing tests: a real OTLP/HTTP receiver and a home serving a model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from otlp_receiver import OtlpReceiver
from sklearn.linear_model import LogisticRegression

from homes import open_home


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def lr_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression().fit(X, y), sample=X[:5], compile=False)
    finally:
        svc.close()
    return home
