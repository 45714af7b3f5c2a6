"""Fixtures of the serving tests: one registry with a model of every format, per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serving_support import build_registry


@pytest.fixture(scope="session")
def serving_home(tmp_path_factory: pytest.TempPathFactory, classification_data: tuple[np.ndarray, np.ndarray]) -> Path:
    home = tmp_path_factory.mktemp("serving") / "home"
    X, y = classification_data
    build_registry(home, X, y)
    return home
