"""Pickle and joblib: recognised without unpickling, refused without trust, loaded with it."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.errors import UnsafeFormat, UnsupportedFormat
from shipyard.flavors import catalog
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.pickle import PickleFlavor

COMPRESSIONS = [None, ("zlib", 3), ("zlib", 9), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)]
COMPRESSION_IDS = ["plain", "zlib-3", "zlib-9", "gzip", "bz2", "xz", "lzma"]


class Tripwire:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


class Halver:
    """A plain Python object with predict, pickled by its author."""

    def predict(self, X: Any) -> Any:
        return np.asarray(X)[:, 0] / 2


@pytest.fixture(scope="module")
def model(iris: Any) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(*iris)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5], ids=["p2", "p3", "p4", "p5"])
def test_pickle_refused_without_trust_and_loaded_with_it(
    protocol: int, model: LogisticRegression, iris: Any, tmp_path: Path
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(model, protocol=protocol))
    flavor = catalog.detect(path)
    assert flavor.name == "pickle" and flavor.unsafe
    with pytest.raises(UnsafeFormat) as refused:
        flavor.load(path, LoadOptions())
    assert "arbitrary code" in refused.value.message
    assert "--trust-pickle" in (refused.value.hint or "") and "skops" in (refused.value.hint or "")
    loaded = flavor.load(path, LoadOptions(trust_pickle=True))
    out = loaded.predict_array(iris[0])
    np.testing.assert_array_equal(out["predict"], model.predict(iris[0]))
    np.testing.assert_array_equal(out["predict_proba"], model.predict_proba(iris[0]))


@pytest.mark.parametrize("compress", COMPRESSIONS, ids=COMPRESSION_IDS)
def test_joblib_files_are_recognised_and_need_trust(
    compress: Any, model: LogisticRegression, iris: Any, tmp_path: Path
) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(model, path, compress=compress or 0)
    flavor = catalog.detect(path)
    assert flavor.name == "pickle"
    with pytest.raises(UnsafeFormat):
        flavor.load(path, LoadOptions())
    loaded = flavor.load(path, LoadOptions(trust_pickle=True))
    np.testing.assert_array_equal(loaded.predict_array(iris[0])["predict"], model.predict(iris[0]))


def test_detection_and_refusal_never_unpickle(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Tripwire(marker), protocol=4))
    compressed = tmp_path / "evil.joblib"
    joblib.dump(Tripwire(marker), compressed, compress=("gzip", 3))
    for candidate in (path, compressed):
        flavor = catalog.detect(candidate)
        with pytest.raises(UnsafeFormat):
            flavor.load(candidate, LoadOptions())
    assert not marker.exists()


def test_trusted_plain_object_is_served_through_predict(tmp_path: Path) -> None:
    path = tmp_path / "halver.pkl"
    path.write_bytes(pickle.dumps(Halver(), protocol=5))
    loaded = PickleFlavor().load(path, LoadOptions(trust_pickle=True))
    assert loaded.flavor == "pickle"
    out = loaded.predict_array(np.array([[2.0, 1.0], [4.0, 1.0]]))
    np.testing.assert_array_equal(out["predict"], [1.0, 2.0])


def test_compressed_non_pickle_is_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert not PickleFlavor().sniff(path.read_bytes(), path)
    with pytest.raises(UnsupportedFormat):
        catalog.detect(path)


def test_protocol_0_text_pickle_is_not_claimed(tmp_path: Path) -> None:
    # Protocol 0/1 pickles have no header to recognise; they fall through as unknown.
    data = pickle.dumps([1, 2], protocol=0)
    assert not PickleFlavor().sniff(data, tmp_path / "x")
