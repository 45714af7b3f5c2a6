"""The catalog: detection from content (not extension), lookup by name, choice for live
objects, and a cheap import."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pytest
import skops.io
import xgboost as xgb
from pyclass_examples import RowSum
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.errors import UnsupportedFormat
from shipyard.flavors import catalog
from shipyard.flavors.pyclass import PyClassFlavor


@pytest.fixture(scope="module")
def fitted(iris: Any) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(*iris)


def _skops(path: Path, m: Any, X: Any, y: Any) -> None:
    skops.io.dump(m, path)


def _onnx(path: Path, m: Any, X: Any, y: Any) -> None:
    path.write_bytes(to_onnx(m, X[:1].astype(np.float32)).SerializeToString())


def _xgb_json(path: Path, m: Any, X: Any, y: Any) -> None:
    xgb.XGBClassifier(n_estimators=2).fit(X, y).get_booster().save_model(str(path.with_suffix(".json")))
    path.with_suffix(".json").rename(path)


def _xgb_ubj(path: Path, m: Any, X: Any, y: Any) -> None:
    xgb.XGBClassifier(n_estimators=2).fit(X, y).get_booster().save_model(str(path.with_suffix(".ubj")))
    path.with_suffix(".ubj").rename(path)


def _lightgbm(path: Path, m: Any, X: Any, y: Any) -> None:
    lgb.LGBMClassifier(n_estimators=2, verbose=-1, n_jobs=1).fit(X, y).booster_.save_model(str(path))


def _pyclass(path: Path, m: Any, X: Any, y: Any) -> None:
    source = Path(sys.modules[RowSum.__module__].__file__ or "")
    PyClassFlavor().package(source, path.parent / "pkg", "pyclass_examples:RowSum").path.rename(path)


def _pickle(path: Path, m: Any, X: Any, y: Any) -> None:
    path.write_bytes(pickle.dumps(m, protocol=4))


def _joblib_xz(path: Path, m: Any, X: Any, y: Any) -> None:
    joblib.dump(m, path, compress=("xz", 3))


WRITERS: dict[str, tuple[Callable[..., None], str]] = {
    "skops": (_skops, "sklearn"),
    "onnx": (_onnx, "onnx"),
    "xgboost-json": (_xgb_json, "xgboost"),
    "xgboost-ubj": (_xgb_ubj, "xgboost"),
    "lightgbm": (_lightgbm, "lightgbm"),
    "pyclass": (_pyclass, "python"),
    "pickle": (_pickle, "pickle"),
    "joblib-xz": (_joblib_xz, "pickle"),
}


@pytest.mark.parametrize(("write", "expected"), WRITERS.values(), ids=WRITERS.keys())
def test_detects_each_format_whatever_its_extension(
    write: Callable[..., None], expected: str, fitted: Any, iris: Any, tmp_path: Path
) -> None:
    # A misleading extension on purpose: detection reads the content.
    path = tmp_path / "model.csv"
    write(path, fitted, *iris)
    assert catalog.detect(path).name == expected


def _plain_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")


JUNK: dict[str, Callable[[Path], None]] = {
    "csv": lambda p: p.write_text("sepal_length,sepal_width\n5.1,3.5\n"),
    "random-bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
    "random-bytes-with-onnx-tag": lambda p: p.write_bytes(b"\x08" + np.random.default_rng(1).bytes(4096)),
    "empty": lambda p: p.write_bytes(b""),
    "plain-zip": _plain_zip,
    "other-json": lambda p: p.write_text(json.dumps({"learners": 1, "version": [1]})),
    "text": lambda p: p.write_text("tree\nthis is not lightgbm\n"),
}


@pytest.mark.parametrize("write", JUNK.values(), ids=JUNK.keys())
def test_junk_is_unsupported_with_a_hint(write: Callable[[Path], None], tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    write(path)
    with pytest.raises(UnsupportedFormat) as refused:
        catalog.detect(path)
    assert "--flavor" in (refused.value.hint or "")


def test_directory_is_not_a_model_file(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFormat):
        catalog.detect(tmp_path)


@pytest.mark.parametrize("name", catalog.FLAVOR_NAMES, ids=catalog.FLAVOR_NAMES)
def test_get_by_name(name: str) -> None:
    assert catalog.get(name).name == name


def test_flavor_names_are_the_documented_ones() -> None:
    assert set(catalog.FLAVOR_NAMES) == {"sklearn", "onnx", "xgboost", "lightgbm", "python", "pickle"}
    assert [f.name for f in catalog.all_flavors() if f.unsafe] == ["pickle"]


def test_unknown_name_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormat, match="tensorflow"):
        catalog.get("tensorflow")


LIVE: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "estimator": (lambda X, y: LogisticRegression(max_iter=500).fit(X, y), "sklearn"),
    "pipeline": (lambda X, y: make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), "sklearn"),
    "xgboost": (lambda X, y: xgb.XGBClassifier(n_estimators=2).fit(X, y), "xgboost"),
    "lightgbm": (lambda X, y: lgb.LGBMRegressor(n_estimators=2, verbose=-1, n_jobs=1).fit(X, y), "lightgbm"),
    "onnx": (lambda X, y: to_onnx(LogisticRegression(max_iter=500).fit(X, y), X[:1].astype(np.float32)), "onnx"),
    "python-class": (lambda X, y: RowSum(), "python"),
}


@pytest.mark.parametrize(("make", "expected"), LIVE.values(), ids=LIVE.keys())
def test_for_object_picks_the_safe_format(make: Callable[[Any, Any], Any], expected: str, iris: Any) -> None:
    assert catalog.for_object(make(*iris)).name == expected


def test_for_object_refuses_what_cannot_predict() -> None:
    with pytest.raises(UnsupportedFormat):
        catalog.for_object({"weights": [1, 2]})


def test_importing_the_catalog_loads_no_model_library() -> None:
    heavy = ["sklearn", "skops", "onnx", "onnxruntime", "xgboost", "lightgbm", "joblib", "pandas"]
    code = f"import sys, shipyard.flavors.catalog; print([m for m in {heavy!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == "[]"
