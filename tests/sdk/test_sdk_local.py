"""``shipyard.register_model`` / ``shipyard.load_model``: round trips through a real registry."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import shipyard
from shipyard.errors import IntegrityError, ModelNotFound, UnsafeFormat


def test_register_and_load_round_trip(
    home: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = wine
    version = shipyard.register_model(
        "wine", forest, training_data=(x, y), metrics={"accuracy": 0.95}, params={"n_estimators": 20}, tags={"a": "b"}
    )
    assert version.ref == "wine/1"
    assert version.flavor == "sklearn"
    assert version.lineage.training_data is not None
    assert version.lineage.training_data.rows == len(x)
    assert version.lineage.metrics == {"accuracy": 0.95}
    loaded = shipyard.load_model("wine")
    assert loaded.version.version == 1
    assert loaded.signature.input_names == tuple(x.columns)
    np.testing.assert_array_equal(loaded.predict(x), forest.predict(x))
    outputs = loaded.predict_outputs(x.iloc[:7])
    np.testing.assert_allclose(outputs["predict_proba"], forest.predict_proba(x.iloc[:7]))


def test_inputs_as_array_and_dict(
    home: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = wine
    shipyard.register_model("wine", forest, sample=x.iloc[:5])
    loaded = shipyard.load_model("wine/1")
    expected = forest.predict(x)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict({c: x[c].to_numpy() for c in x.columns}), expected)


def test_explicit_home_and_alias(
    tmp_path: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, y = wine
    home = tmp_path / "explicit"
    shipyard.register_model("wine", forest, training_data=x, home=home)
    second = shipyard.register_model("wine", forest, training_data=(x, y), parent_version=1, home=home)
    assert second.version == 2
    assert second.parent_version == 1
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings

    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    try:
        services.store.set_alias("wine", "production", 1)
    finally:
        services.close()
    assert shipyard.load_model("wine@production", home=home).version.version == 1


def test_register_from_a_path(
    home: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    import skops.io

    path = tmp_path / "forest.skops"
    skops.io.dump(forest, path)
    x, _ = wine
    version = shipyard.register_model("wine", str(path), sample=x.iloc[:3])
    assert version.artifact.filename == "forest.skops"
    np.testing.assert_array_equal(shipyard.load_model("wine").predict(x), forest.predict(x))


def test_pickle_needs_trust(
    home: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    path = tmp_path / "forest.pkl"
    path.write_bytes(pickle.dumps(forest))
    x, _ = wine
    with pytest.raises(UnsafeFormat):
        shipyard.register_model("wine", path, sample=x.iloc[:3])
    version = shipyard.register_model("wine", path, sample=x.iloc[:3], trust_pickle=True)
    assert version.unsafe_format
    np.testing.assert_array_equal(shipyard.load_model("wine").predict(x), forest.predict(x))


def test_load_refuses_tampered_bytes(
    home: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = wine
    version = shipyard.register_model("wine", forest, sample=x.iloc[:3])
    [blob] = [p for p in (home / "artifacts" / "sha256").rglob(version.artifact.sha256) if p.is_file()]
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes()[:-1])
    with pytest.raises(IntegrityError):
        shipyard.load_model("wine")


def test_unknown_model(home: Path) -> None:
    with pytest.raises(ModelNotFound):
        shipyard.load_model("ghost")
