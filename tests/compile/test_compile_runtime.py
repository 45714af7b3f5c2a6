"""Which form serves, and why: refusals recorded with the version, the runtime override,
digest checks of compiled artifacts, and compiling existing versions on demand."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from compile_support import Split, assert_same_answers, outputs_for
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from shipyard.bootstrap import Services
from shipyard.errors import Conflict, IntegrityError, InvalidRequest, ModelLoadError


def test_a_model_without_a_converter_stays_native_and_says_why(services: Services, synthetic: Split) -> None:
    model = KNeighborsClassifier(metric="chebyshev").fit(synthetic.X_train, synthetic.y_train)
    version = services.registry.register("knn", model, sample=synthetic.X_train[:5], training_data=synthetic.X_train)
    assert version.serving_runtime == "native"
    assert version.compiled is None
    assert version.compile_error is not None and "chebyshev" in version.compile_error
    assert version.compile_error.startswith("failed to convert: skl2onnx cannot convert")
    assert services.registry.load_version(version).flavor == "sklearn"
    with pytest.raises(ModelLoadError, match="has no compiled form"):
        services.registry.load_version(version, runtime="compiled")
    shown = services.store.get_version("knn", 1).to_dict()
    assert shown["serving_runtime"] == "native" and shown["compiled"] is None
    assert "chebyshev" in shown["compile_error"]


def test_a_compiled_form_that_disagrees_is_kept_for_review_but_never_serves(services: Services) -> None:
    # Integer features: many training points at exactly the same distance. scikit-learn and
    # the ONNX TopK break those ties differently, so the neighbours (and votes) differ.
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(600, 3)).astype(np.float64)
    y = rng.integers(0, 2, 600)
    model = KNeighborsClassifier(n_neighbors=4).fit(X, y)
    version = services.registry.register("ties", model, sample=X[:5], training_data=X)
    assert version.serving_runtime == "native"
    assert version.compile_error is not None and version.compile_error.startswith("disagreed on ")
    assert f"of {version.compiled.report['rows_checked']} rows" in version.compile_error  # type: ignore[union-attr]
    assert "labels differ" in version.compile_error
    assert version.compiled is not None and version.compiled.report["agreed"] is False
    assert version.compiled.report["labels_identical"] is False
    assert services.registry.load_version(version).flavor == "sklearn"
    with pytest.raises(ModelLoadError, match="does not answer like the native model"):
        services.registry.load_version(version, runtime="compiled")


def test_runtime_override_and_bad_runtime(services: Services, cancer: Split) -> None:
    model = LogisticRegression(max_iter=3000).fit(cancer.X_train, cancer.y_train)
    version = services.registry.register("lr", model, sample=cancer.X_train[:5], training_data=cancer.X_train)
    assert version.serving_runtime == "compiled"
    assert services.registry.load_version(version).flavor == "compiled"
    assert services.registry.load_version(version, runtime="native").flavor == "sklearn"
    assert services.registry.load_version(version, runtime="compiled").flavor == "compiled"
    with pytest.raises(InvalidRequest, match="runtime must be one of"):
        services.registry.load_version(version, runtime="gpu")


def test_tampered_compiled_artifact_is_refused_at_load(services: Services, cancer: Split, tmp_path: Path) -> None:
    model = LogisticRegression(max_iter=3000).fit(cancer.X_train, cancer.y_train)
    version = services.registry.register("lr", model, sample=cancer.X_train[:5])
    assert version.compiled is not None
    sha = version.compiled.artifact.sha256
    blob = tmp_path / "home" / "artifacts" / "sha256" / sha[:2] / sha
    assert blob.is_file()
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        services.registry.load_version(version)
    assert services.registry.load_version(version, runtime="native").flavor == "sklearn"


def test_compile_an_existing_version_with_caller_data(services: Services, synthetic: Split) -> None:
    model = RandomForestClassifier(n_estimators=40, random_state=0).fit(synthetic.X_train, synthetic.y_train)
    version = services.registry.register(
        "rf", model, sample=synthetic.X_train[:5], training_data=synthetic.X_train, compile=False
    )
    assert version.compiled is None and version.serving_runtime == "native" and version.compile_error is None
    seen: list[tuple[int, int]] = []
    compiled = services.registry.compile_version(
        "rf/1", data=synthetic.X_test, max_rows=300, progress=lambda d, t: seen.append((d, t))
    )
    assert compiled.serving_runtime == "compiled" and compiled.compiled is not None
    report = compiled.compiled.report
    assert report["rows_checked"] == 305 and "caller data (300 rows" in report["data"]
    assert seen[-1] == (305, 305)
    # The version's own fields are unchanged by compiling it later.
    assert (compiled.artifact, compiled.created_at, compiled.signature) == (
        version.artifact,
        version.created_at,
        version.signature,
    )
    assert_same_answers(services, compiled, synthetic.X_test)
    with pytest.raises(Conflict, match="compiled already"):
        services.registry.compile_version("rf/1")
    again = services.registry.compile_version("rf/1", force=True)
    assert (
        again.compiled is not None and "synthetic rows from the training-data profile" in again.compiled.report["data"]
    )
    assert again.compiled.report["agreed"] is True


def test_compile_without_data_or_profile_checks_the_input_example(services: Services, cancer: Split) -> None:
    model = LogisticRegression(max_iter=3000).fit(cancer.X_train, cancer.y_train)
    services.registry.register("lr", model, sample=cancer.X_train[:5], compile=False)
    version = services.registry.compile_version("lr")
    assert version.compiled is not None
    assert version.compiled.report["rows_checked"] == 5
    assert version.compiled.report["data"] == "input example (5 rows)"


def test_compiled_model_serves_many_threads(services: Services, synthetic: Split) -> None:
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(synthetic.X_train, synthetic.y_train)
    version = services.registry.register("rf", model, sample=synthetic.X_train[:5])
    loaded = services.registry.load_version(version)
    expected = outputs_for(loaded, version, synthetic.X_test)
    failures: list[str] = []

    def work(offset: int) -> None:
        for i in range(50):
            row = synthetic.X_test[(offset + i) % len(synthetic.X_test)][None, :]
            got = outputs_for(loaded, version, row)
            index = (offset + i) % len(synthetic.X_test)
            if got["predict"][0] != expected["predict"][index] or not np.allclose(
                got["predict_proba"][0], expected["predict_proba"][index], atol=0
            ):
                failures.append(f"row {index}")

    threads = [threading.Thread(target=work, args=(k * 37,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_tampered_native_artifact_stops_the_compiled_form_too(
    services: Services, cancer: Split, tmp_path: Path
) -> None:
    model = LogisticRegression(max_iter=3000).fit(cancer.X_train, cancer.y_train)
    version = services.registry.register("lr", model, sample=cancer.X_train[:5])
    assert version.serving_runtime == "compiled"
    sha = version.artifact.sha256
    blob = tmp_path / "home" / "artifacts" / "sha256" / sha[:2] / sha
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError):
        services.registry.load_version(version)
