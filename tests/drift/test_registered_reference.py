"""A version registered with training data carries its drift reference: summarised once, stored as a
digest-checked blob, loaded for (model, version) and compared against without the training data.
Runs on SQLite and on PostgreSQL (the lineage column round-trips the reference's address)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import IntegrityError, NotFound
from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.summaries import summarize
from shipyard.monitoring.reference import drift_against_reference, load_drift_reference
from shipyard.registry.artifacts.base import blob_key
from shipyard.registry.gc import referenced_digests


@pytest.fixture
def services(tmp_path: Path, db_url: str) -> Iterator[Services]:
    svc = open_home(tmp_path / "home", registry_url=db_url)
    yield svc
    svc.close()


def _training(n: int, shift: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(3 + shift, 1, n),
            "age": rng.integers(18, 90, n),
            "channel": pd.Series(rng.choice(["web", "app", "shop"], n, p=[0.5, 0.3, 0.2]), dtype=object),
        }
    )
    target = pd.Series((frame["amount"] > 25).astype(int), name="fraud")
    return frame, target


def _model(frame: pd.DataFrame, target: pd.Series) -> LogisticRegression:
    return LogisticRegression(max_iter=200).fit(frame[["amount", "age"]], target)


def test_registered_reference_is_the_training_summary(services: Services) -> None:
    frame, target = _training(3000)
    features = frame[["amount", "age"]]
    version = services.registry.register(
        "fraud", _model(frame, target), sample=features.head(5), training_data=features, target=target
    )
    ref = version.lineage.drift_reference
    assert ref is not None and ref.filename == "drift-reference.npz"
    stored = services.registry.store.get_version("fraud", version.version)
    assert stored.lineage.drift_reference == ref
    assert ref.sha256 in referenced_digests(services.registry.store)  # gc keeps it

    reference = load_drift_reference(services.registry, "fraud", version.version)
    assert list(reference.columns) == ["amount", "age", "fraud"]
    whole = summarize(features.assign(fraud=target.to_numpy()))
    for name in reference.columns:
        assert reference.columns[name].counts.tolist() == whole.columns[name].counts.tolist()

    # Traffic compared against the registered reference: the numbers of comparing with the data itself.
    traffic, _ = _training(800, shift=0.5, seed=1)
    stored_report = drift_against_reference(services.registry, "fraud", version.version, traffic[["amount", "age"]])
    direct = drift_report(features, traffic[["amount", "age"]])
    assert stored_report.to_dict() == {**direct.to_dict(), "skipped": {"fraud": "only in the reference"}}
    assert stored_report["amount"].drift_detected


def test_a_changed_blob_is_refused(services: Services) -> None:
    frame, target = _training(500)
    features = frame[["amount", "age"]]
    version = services.registry.register(
        "fraud", _model(frame, target), sample=features.head(5), training_data=features, target=target
    )
    ref = version.lineage.drift_reference
    assert ref is not None
    blob = services.settings.home / "artifacts" / blob_key(ref.sha256)
    assert blob.is_file()
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_drift_reference(services.registry, "fraud", version.version)


def test_a_version_without_training_data_has_no_reference(services: Services) -> None:
    frame, target = _training(300)
    features = frame[["amount", "age"]]
    version = services.registry.register("plain", _model(frame, target), sample=features.head(5))
    assert version.lineage.drift_reference is None
    assert "drift_reference" not in version.lineage.to_dict()
    with pytest.raises(NotFound, match="has no drift reference"):
        load_drift_reference(services.registry, "plain", version.version)


def test_training_data_of_any_shape_becomes_a_frame() -> None:
    from shipyard.monitoring.drift.training import training_frame

    X = np.arange(12, dtype=float).reshape(4, 3)
    frame = training_frame(X, np.array([0, 1, 0, 1]))
    assert list(frame.columns) == ["x0", "x1", "x2", "target"]
    assert frame["x1"].tolist() == [1.0, 4.0, 7.0, 10.0] and frame["target"].dtype.kind == "i"
    features = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"]})
    assert training_frame(features) is features
    named = training_frame(features, pd.Series([0, 1], name="label"))
    assert list(named.columns) == ["a", "b", "label"]
