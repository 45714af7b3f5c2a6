"""Fixtures shared across the suite: data sets that ship with scikit-learn or are generated,
and registries populated through the real service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification

from homes import open_home
from shipyard.bootstrap import Services

N_FEATURES = 20

# The real S3-compatible server fixtures (s3_endpoint, s3_client, s3_bucket, aws_env).
# The real PostgreSQL fixtures (pg_user, pg_database).
pytest_plugins = ["moto_server", "postgres_db"]

# Servers the tests start (in this process or as subprocesses) leave the gRPC port off unless
# a test asks for one: parallel servers on the default 8081 would collide.
os.environ.setdefault("SHIPYARD_GRPC_PORT", "0")


@pytest.fixture(scope="session")
def classification_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=600, n_features=N_FEATURES, n_informative=10, n_redundant=4, random_state=0)
    return X.astype(np.float64), y


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    svc = open_home(tmp_path / "home")
    yield svc
    svc.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SHIPYARD_HOME in the environment (as a user's shell would have it), with
    nothing of the developer's own settings leaking in; the working directory is tmp_path."""
    path = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(path))
    for name in ("SHIPYARD_CONFIG", "SHIPYARD_REGISTRY_URL", "SHIPYARD_ARTIFACTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With SHIPYARD_TEST_TIMINGS=FILE, append each phase's duration as it ends (a live view
    of where a run's time goes; pytest's --durations only tells at the end)."""
    path = os.environ.get("SHIPYARD_TEST_TIMINGS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{report.duration:.2f}\t{report.when}\t{report.nodeid}\n")
