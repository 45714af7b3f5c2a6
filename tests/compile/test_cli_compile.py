"""``shipyard models compile`` and the compiled form in ``shipyard models show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io
from compile_support import Shipyard
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    data = load_iris(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, data.target)
    paths = {"model": tmp_path / "iris.skops", "sample": tmp_path / "sample.csv", "train": tmp_path / "train.csv"}
    skops.io.dump(model, paths["model"])
    x.iloc[:5].to_csv(paths["sample"], index=False)
    x.assign(species=data.target).to_csv(paths["train"], index=False)
    return paths


@pytest.fixture
def registered(shipyard: Shipyard, files: dict[str, Path]) -> str:
    result = shipyard(
        "models", "register", "iris", files["model"], "--training-data", files["train"], "--target", "species"
    )
    assert result.exit_code == 0, result.output
    return "iris/1"


def test_registration_compiles_and_show_says_so(shipyard: Shipyard, registered: str) -> None:
    shown = shipyard("models", "show", registered)
    assert shown.exit_code == 0, shown.output
    assert "compiled (agrees with the native model on 155 rows)" in shown.output
    assert "agreement" in shown.output and "one-row call" in shown.output
    as_json = json.loads(shipyard("models", "show", registered, "--json").stdout)
    assert as_json["serving_runtime"] == "compiled"
    assert len(as_json["compiled"]["artifact"]["sha256"]) == 64
    report = as_json["compiled"]["report"]
    assert report["agreed"] is True and report["labels_identical"] is True
    assert report["rows_checked"] == 155  # the sample (first 5 training rows) + 150 training rows


def test_compile_round_trip(shipyard: Shipyard, registered: str, files: dict[str, Path]) -> None:
    result = shipyard("models", "compile", registered, "--force", "--data", files["train"], "--target", "species")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("iris/1: compiled (agrees with the native model on 155 rows)\n")
    assert "compiled form: sha256 " in result.stdout
    assert "agrees on 155 rows (input example (5 rows) + caller data (150 rows" in result.stdout
    assert "one-row call: native" in result.stdout
    as_json = json.loads(shipyard("models", "compile", registered, "--force", "--json").stdout)
    assert as_json["serving_runtime"] == "compiled"
    assert "synthetic rows" in as_json["compiled"]["report"]["data"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("models", "compile", "nosuch/1"), 3, "model 'nosuch' not found"),
        (("models", "compile", "iris/7"), 3, "has no version 7"),
        (("models", "compile", "iris/1"), 4, "iris/1 was compiled already"),
        (("models", "compile", "iris/1", "--force", "--data", "missing.csv"), 2, "data file not found"),
        (("models", "compile", "iris/1", "--target", "species"), 2, "--target needs --data"),
        (("models", "compile", "iris/1", "--force", "--data", "bad.csv", "--target", "nope"), 2, "no column 'nope'"),
    ],
)
def test_compile_errors_are_one_line(
    shipyard: Shipyard, registered: str, tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    result = shipyard(*args)
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_unreadable_data_file(shipyard: Shipyard, registered: str, tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    result = shipyard("models", "compile", registered, "--force", "--data", tmp_path / "broken.json")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "not valid JSON" in result.stderr


def test_registration_says_which_runtime_serves(shipyard: Shipyard, files: dict[str, Path]) -> None:
    result = shipyard(
        "models", "register", "iris", files["model"], "--training-data", files["train"], "--target", "species"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "Runtime: compiled (agrees with the native model on 155 rows)"
    as_json = json.loads(
        shipyard("models", "register", "iris", files["model"], "--sample", files["sample"], "--json").stdout
    )
    assert as_json["runtime_statement"] == "compiled (agrees with the native model on 5 rows)"


def test_registration_says_why_the_native_form_serves(
    shipyard: Shipyard, files: dict[str, Path], tmp_path: Path
) -> None:
    data = load_iris(as_frame=True)
    x = data.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    knn = tmp_path / "knn.skops"
    skops.io.dump(KNeighborsClassifier(metric="chebyshev").fit(x, data.target), knn)
    result = shipyard("models", "register", "knn", knn, "--sample", files["sample"])
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[1]
    assert line.startswith("Runtime: native (failed to convert: skl2onnx cannot convert "), line
    assert "chebyshev" in line
    shown = shipyard("models", "show", "knn/1").output
    assert "native (failed to convert: " in shown


def test_a_version_without_rows_to_check_is_not_called_a_disagreement(
    shipyard: Shipyard, files: dict[str, Path]
) -> None:
    # No sample, no training data: the signature comes from the model, and there is nothing
    # to check the compiled form on. It must say so, not "does NOT agree on 0 rows".
    result = shipyard("models", "register", "iris", files["model"])
    assert result.exit_code == 0, result.output
    assert "Runtime: native (not checked: no rows to check the compiled form on" in result.stdout
    shown = shipyard("models", "show", "iris/1").output
    assert "not checked" in shown and "agree" not in shown.replace("agreement", "")
