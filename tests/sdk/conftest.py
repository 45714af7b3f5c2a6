"""SDK fixtures: a private SHIPYARD_HOME per test and a real server in a child process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

import shipyard
from live_server import create_key
from shipyard.cli.demo_traffic import ServerProcess


@pytest.fixture(scope="session")
def wine() -> tuple[pd.DataFrame, pd.Series]:
    data = load_wine(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace("/", "_"))
    return x, data.target


@pytest.fixture(scope="session")
def forest(wine: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    x, y = wine
    return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x, y)


@pytest.fixture
def served(
    home: Path,
    tmp_path: Path,
    forest: RandomForestClassifier,
    wine: tuple[pd.DataFrame, pd.Series],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServerProcess]:
    """``wine`` version 1 registered in ``home`` and served by ``python -m shipyard serve``;
    ``$SHIPYARD_API_KEY`` holds an admin key for it."""
    x, y = wine
    shipyard.register_model("wine", forest, training_data=(x, y), home=home)
    monkeypatch.setenv("SHIPYARD_API_KEY", create_key(home))
    process = ServerProcess.start(["wine"], home=home, log_path=tmp_path / "server.log")
    try:
        process.wait_ready(timeout=60)
        yield process
    finally:
        code, _ = process.stop()
        assert code == 0, process.log_tail()
