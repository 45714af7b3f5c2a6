"""Python-class models: packaging by parsing, trust on load, artifacts, import isolation."""

from __future__ import annotations

import json
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pyclass_examples import RowSum

from shipyard.errors import ModelLoadError, UnsafeFormat, UnsupportedFormat
from shipyard.flavors import catalog
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.pyclass import PyClassFlavor
from shipyard.flavors.pyclass_package import MANIFEST

TRUSTED = LoadOptions(trust_code=True)
ROWS = np.array([[1.0, 2.0], [3.0, 4.0]])


def write_project(root: Path, *, factor: float, marker: str) -> Path:
    """A model directory: an entry module importing a sibling relatively, plus artifacts."""
    root.mkdir(parents=True)
    (root / "helpers.py").write_text(f"MARKER = {marker!r}\n\ndef factor():\n    return {factor}\n")
    (root / "model.py").write_text(
        textwrap.dedent(
            """
            import json
            from pathlib import Path

            import numpy as np

            from . import helpers


            class Scaler:
                def load_context(self, artifacts_dir: Path) -> None:
                    self.offset = json.loads((artifacts_dir / "offset.json").read_text())["offset"]

                def predict(self, X):
                    return np.asarray(X).sum(axis=1) * helpers.factor() + self.offset


            def not_a_model():
                return None
            """
        )
    )
    (root / "artifacts").mkdir()
    (root / "artifacts" / "offset.json").write_text(json.dumps({"offset": 0.5}))
    return root


def test_directory_package_needs_trust_then_serves(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", factor=2.0, marker="one")
    flavor = PyClassFlavor()
    saved = flavor.package(project, tmp_path / "out", None)
    assert saved.metadata == {"entry": "model:Scaler"}
    with zipfile.ZipFile(saved.path) as zf:
        assert set(zf.namelist()) == {MANIFEST, "code/helpers.py", "code/model.py", "artifacts/offset.json"}
    detected = catalog.detect(saved.path)
    assert detected.name == "python"
    with pytest.raises(UnsafeFormat, match="runs its code") as refused:
        detected.load(saved.path, LoadOptions())
    assert "--trust-code" in (refused.value.hint or "")
    loaded = detected.load(saved.path, TRUSTED)
    np.testing.assert_array_equal(loaded.predict_array(ROWS)["predict"], [6.5, 14.5])


def test_packaging_is_deterministic(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", factor=2.0, marker="one")
    first = PyClassFlavor().package(project, tmp_path / "a", None)
    second = PyClassFlavor().package(project, tmp_path / "b", None)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_two_versions_of_the_same_module_do_not_collide(tmp_path: Path) -> None:
    flavor = PyClassFlavor()
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    one = flavor.load(
        flavor.package(write_project(tmp_path / "v1", factor=1.0, marker="a"), tmp_path / "o1").path, TRUSTED
    )
    two = flavor.load(
        flavor.package(write_project(tmp_path / "v2", factor=10.0, marker="b"), tmp_path / "o2").path, TRUSTED
    )
    np.testing.assert_array_equal(one.predict_array(ROWS)["predict"], [3.5, 7.5])
    np.testing.assert_array_equal(two.predict_array(ROWS)["predict"], [30.5, 70.5])
    assert sys.path == path_before
    assert not {"model", "helpers"} & set(sys.modules)
    stored = [n for n in set(sys.modules) - modules_before if n.rsplit(".", 1)[-1] in ("model", "helpers")]
    assert stored and all(name.startswith("_shipyard_model_") for name in stored)


def test_single_file_package_finds_its_class_by_parsing(tmp_path: Path) -> None:
    source = tmp_path / "doubler.py"
    source.write_text(
        "raise SystemExit('imported while packaging')\n\n"
        "class Doubler:\n    def predict(self, X):\n        return X * 2\n"
    )
    saved = PyClassFlavor().package(source, tmp_path / "out", None)
    assert saved.metadata["entry"] == "doubler:Doubler"
    with pytest.raises(ModelLoadError, match="SystemExit"):
        PyClassFlavor().load(saved.path, TRUSTED)


def test_ambiguous_entry_must_be_named(tmp_path: Path) -> None:
    source = tmp_path / "two.py"
    source.write_text(
        "class A:\n    def predict(self, X):\n        return X[:, 0]\n\n"
        "class B:\n    def predict(self, X):\n        return X[:, 1]\n"
    )
    with pytest.raises(UnsupportedFormat, match="two:A, two:B"):
        PyClassFlavor().package(source, tmp_path / "out", None)
    saved = PyClassFlavor().package(source, tmp_path / "out", "two:B")
    loaded = PyClassFlavor().load(saved.path, TRUSTED)
    np.testing.assert_array_equal(loaded.predict_array(ROWS)["predict"], [2.0, 4.0])


@pytest.mark.parametrize(
    "entry",
    ["two:Missing", "other:A", "two", "two:A:B", "../two:A"],
    ids=["class", "module", "no-class", "extra", "path"],
)
def test_bad_entries_are_refused(entry: str, tmp_path: Path) -> None:
    source = tmp_path / "two.py"
    source.write_text("class A:\n    def predict(self, X):\n        return X\n")
    with pytest.raises(UnsupportedFormat):
        PyClassFlavor().package(source, tmp_path / "out", entry)


def test_live_object_is_saved_as_its_class_source(tmp_path: Path) -> None:
    flavor = catalog.for_object(RowSum())
    assert flavor.name == "python"
    saved = flavor.save(RowSum(), tmp_path / "out")
    assert saved.metadata["entry"] == "pyclass_examples:RowSum"
    loaded = catalog.detect(saved.path).load(saved.path, TRUSTED)
    np.testing.assert_array_equal(loaded.predict_array(ROWS)["predict"], [3.0, 7.0])
    assert loaded.row_independent is False


def test_artifacts_directory_reaches_load_context(tmp_path: Path) -> None:
    artifacts = tmp_path / "data"
    artifacts.mkdir()
    (artifacts / "scale.json").write_text(json.dumps({"scale": 3}))
    source = Path(sys.modules[RowSum.__module__].__file__ or "")
    saved = PyClassFlavor().package(source, tmp_path / "out", "pyclass_examples:RowSum", artifacts=artifacts)
    loaded = PyClassFlavor().load(saved.path, TRUSTED)
    np.testing.assert_array_equal(loaded.predict_array(ROWS)["predict"], [9.0, 21.0])


def test_manifest_may_declare_string_output(tmp_path: Path) -> None:
    path = tmp_path / "labels.zip"
    with zipfile.ZipFile(path, "w") as zf:
        manifest = {"entry": "lab:Labeller", "outputs": [{"name": "predict", "dtype": "string"}]}
        zf.writestr(MANIFEST, json.dumps(manifest))
        zf.writestr("code/lab.py", "class Labeller:\n    def predict(self, X):\n        return ['hi'] * len(X)\n")
    loaded = PyClassFlavor().load(path, TRUSTED)
    assert loaded.outputs[0].dtype == "string"
    out = loaded.predict_array(ROWS)["predict"]
    assert out.dtype == object and list(out) == ["hi", "hi"]
