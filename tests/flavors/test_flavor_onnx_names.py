"""ONNX files registered directly answer in the vocabulary of every other flavor: the usual
classifier pairs become ``predict``/``predict_proba``, and the registrant names any output
(``output_names``, ``--output-name``). A version registered without the mapping keeps its
graph's names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import InvalidRequest
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.onnx import OnnxFlavor


@pytest.fixture
def services(tmp_path: Path) -> Any:
    svc = open_home(tmp_path / "home")
    yield svc
    svc.close()


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    onnx.save_model(proto, str(path))
    return path


@pytest.fixture
def classifier(iris: Any, tmp_path: Path) -> tuple[LogisticRegression, dict[str, Path]]:
    X = iris[0].astype(np.float32)
    model = LogisticRegression(max_iter=1000).fit(X, iris[1])
    plain = to_onnx(model, X[:1], options={id(model): {"zipmap": False}}, target_opset=17)
    zipped = to_onnx(model, X[:1], target_opset=17)
    return model, {"plain": _save(plain, tmp_path / "plain.onnx"), "zipmap": _save(zipped, tmp_path / "zip.onnx")}


@pytest.fixture
def regressor(diabetes: Any, tmp_path: Path) -> Path:
    X = diabetes[0].astype(np.float32)
    model = LinearRegression().fit(X, diabetes[1])
    return _save(to_onnx(model, X[:1], target_opset=17), tmp_path / "reg.onnx")


@pytest.mark.parametrize("form", ["plain", "zipmap"], ids=["label-probabilities", "output_label-output_probability"])
def test_the_usual_classifier_pairs_answer_as_predict_and_predict_proba(
    services: Services, classifier: tuple[LogisticRegression, dict[str, Path]], iris: Any, form: str
) -> None:
    model, paths = classifier
    X = iris[0].astype(np.float32)
    version = services.registry.register("iris", paths[form], sample=X[:5])
    assert [o.name for o in version.signature.outputs] == ["predict", "predict_proba"]
    out = services.registry.load_version(version).predict_array(X)
    np.testing.assert_array_equal(out["predict"], model.predict(X))
    np.testing.assert_allclose(out["predict_proba"], model.predict_proba(X), atol=1e-5)


def test_the_registrant_names_outputs(services: Services, regressor: Path, diabetes: Any) -> None:
    X = diabetes[0].astype(np.float32)
    version = services.registry.register("price", regressor, sample=X[:5], output_names={"variable": "price"})
    assert [o.name for o in version.signature.outputs] == ["price"]
    assert version.flavor_metadata["output_names"] == {"variable": "price"}
    assert services.registry.load_version(version).predict_array(X)["price"].shape[0] == len(X)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"nope": "predict"}, "the ONNX graph has no output 'nope'"),
        ({"label": "two words"}, "output name 'two words' is not a valid name"),
        ({"probabilities": "predict"}, "two ONNX outputs would both be named 'predict'"),
        ({"label": 3}, "output names must map each output's name"),
    ],
    ids=["unknown-output", "bad-name", "duplicate", "not-a-string"],
)
def test_bad_output_names_are_refused(
    services: Services, classifier: tuple[Any, dict[str, Path]], iris: Any, names: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        services.registry.register("iris", classifier[1]["plain"], sample=iris[0][:5], output_names=names)
    assert services.store.list_models() == []


def test_output_names_apply_to_onnx_only(services: Services, iris: Any) -> None:
    model = LogisticRegression(max_iter=1000).fit(*iris)
    with pytest.raises(InvalidRequest, match="names its outputs itself"):
        services.registry.register("iris", model, sample=iris[0][:5], output_names={"predict": "label"})


def test_a_version_registered_before_keeps_its_graph_names(classifier: tuple[Any, dict[str, Path]]) -> None:
    # No mapping in the version's metadata: exactly the graph's names, as before.
    loaded = OnnxFlavor().load(classifier[1]["plain"], LoadOptions())
    assert [o.name for o in loaded.outputs] == ["label", "probabilities"]


def test_cli_output_name_flag(shipyard_cli: Any, regressor: Path, diabetes: Any, tmp_path: Path) -> None:
    sample = tmp_path / "sample.npy"
    np.save(sample, diabetes[0][:5].astype(np.float32))
    result = shipyard_cli(
        "models", "register", "price", regressor, "--sample", sample, "--output-name", "variable=price"
    )
    assert result.exit_code == 0, result.output
    bad = shipyard_cli("models", "register", "price", regressor, "--sample", sample, "--output-name", "price")
    assert bad.exit_code == 2 and "--output-name expects KEY=VALUE" in bad.stderr


@pytest.fixture
def shipyard_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from click.testing import CliRunner

    from shipyard.cli.main import cli

    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "cli-home"))
    for name in ("SHIPYARD_CONFIG", "SHIPYARD_REGISTRY_URL", "SHIPYARD_ARTIFACTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
