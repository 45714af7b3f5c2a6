"""Helpers for the compiled-runtime tests: train/held-out splits, comparing a version's
native and compiled answers, and ``shipyard`` run in-process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from click.testing import CliRunner, Result

from shipyard.bootstrap import Services
from shipyard.cli.main import cli
from shipyard.compile.rows import batch_from_data
from shipyard.flavors.base import LoadedModel
from shipyard.registry.types import ModelVersion
from shipyard.schema.batch import Outputs


@dataclass(frozen=True)
class Split:
    X_train: Any
    y_train: Any
    X_test: Any
    y_test: Any


def split(X: Any, y: Any, seed: int = 0) -> Split:
    index = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * 0.7)
    train, test = index[:cut], index[cut:]
    take = (lambda a, i: a.iloc[i].reset_index(drop=True)) if hasattr(X, "iloc") else (lambda a, i: a[i])
    y_take = (lambda a, i: a.iloc[i].reset_index(drop=True)) if hasattr(y, "iloc") else (lambda a, i: a[i])
    return Split(take(X, train), y_take(y, train), take(X, test), y_take(y, test))


def outputs_for(loaded: LoadedModel, version: ModelVersion, data: Any) -> Outputs:
    """``loaded``'s answer to ``data``, validated against the version's signature like a request."""
    batch = batch_from_data(version.signature, data, max_rows=len(data))
    return loaded.predict(batch)


def assert_same_answers(services: Services, version: ModelVersion, data: Any) -> dict[str, float]:
    """Native and compiled forms answer alike on ``data``: names, dtypes, shapes, labels
    identical, numbers within the stated tolerance. Returns the max abs diff per output."""
    native = services.registry.load_version(version, runtime="native")
    compiled = services.registry.load_version(version, runtime="compiled")
    assert [s.name for s in compiled.outputs] == [s.name for s in native.outputs]
    assert [s.dtype for s in compiled.outputs] == [s.dtype for s in native.outputs]
    want, got = outputs_for(native, version, data), outputs_for(compiled, version, data)
    assert list(got) == list(want)
    diffs: dict[str, float] = {}
    for name, expected in want.items():
        actual = got[name]
        assert actual.dtype == expected.dtype, name
        assert actual.shape == expected.shape, name
        if expected.dtype.kind in "OUSbiu":
            assert np.array_equal(actual, expected), name
        else:
            diffs[name] = float(np.max(np.abs(actual - expected)))
            # The tolerance the check states: 1e-6 for probabilities; for values relative,
            # 1e-6 in double graphs and 1e-5 for XGBoost, which sums in float32 itself.
            relative = 1e-5 if version.flavor == "xgboost" else 1e-6
            bound = relative * np.maximum(1.0, np.abs(expected)) if name == "predict" else 1e-6
            assert np.all(np.abs(actual - expected) <= bound), name
    return diffs


class Shipyard:
    """``shipyard`` run in-process with click's runner, stdout and stderr apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: Any) -> Result:
        return self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
