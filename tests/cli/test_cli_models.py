"""``shipyard models``: register, list, show, alias, round trips through a real registry."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import ModelFiles, Shipyard


def test_register_prints_the_new_version(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard("models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("Registered iris/1 (sklearn, sha256 ")
    assert "KB)" in line


def test_register_json_records_lineage(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard(
        "models", "register", "iris", model_files.skops_path, "--json",
        "--training-data", model_files.training_csv, "--target", "species",
        "--metric", "accuracy=0.97", "--param", "max_iter=300", "--param", "solver=lbfgs",
        "--tag", "team=ml", "--description", "first",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    version = json.loads(result.stdout)
    assert version["version"] == 1
    assert version["lineage"]["metrics"] == {"accuracy": 0.97}
    assert version["lineage"]["params"] == {"max_iter": 300, "solver": "lbfgs"}
    assert version["lineage"]["training_data"]["rows"] == 150
    assert version["tags"] == {"team": "ml"}
    assert version["description"] == "first"
    assert [i["name"] for i in version["signature"]["inputs"]][:2] == ["sepal_length", "sepal_width"]


def test_list_shows_models_and_aliases(shipyard: Shipyard, registered: str) -> None:
    assert shipyard("models", "alias", registered, "production", "1").exit_code == 0
    table = shipyard("models", "list")
    assert table.exit_code == 0
    assert "iris" in table.stdout
    assert "production→1" in table.stdout
    header = next(line for line in table.stdout.splitlines() if "name" in line and "latest" in line)
    titles = [cell.strip() for cell in header.strip().strip("┃│|").split("┃")]
    assert all(titles) and titles[-1] == "unsafe", header  # every column has a title
    listing = json.loads(shipyard("models", "list", "--json").stdout)
    [model] = listing["models"]
    assert model["name"] == "iris"
    assert model["latest_version"] == 1
    assert model["aliases"] == {"production": 1}
    assert model["unsafe_versions"] == []


def test_list_with_no_models(shipyard: Shipyard) -> None:
    result = shipyard("models", "list")
    assert result.exit_code == 0
    assert "No models registered yet" in result.stdout
    assert json.loads(shipyard("models", "list", "--json").stdout) == {"models": []}


def test_show_model_lists_its_versions(shipyard: Shipyard, registered: str, model_files: ModelFiles) -> None:
    shipyard("models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv, "--parent", "1")
    text = shipyard("models", "show", "iris")
    assert text.exit_code == 0
    assert "versions" in text.stdout
    shown = json.loads(shipyard("models", "show", "iris", "--json").stdout)
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert shown["versions"][1]["parent_version"] == 1


def test_show_version_shows_lineage(shipyard: Shipyard, registered: str) -> None:
    result = shipyard("models", "show", "iris/1")
    assert result.exit_code == 0, result.output
    for expected in (
        "sha256",
        "training data",
        "150 rows",
        "accuracy=0.97",
        "max_iter=300",
        "environment",
        "created by",
    ):
        assert expected in result.stdout, expected
    assert "UNSAFE" not in result.stdout


def test_show_by_alias_resolves_the_version(shipyard: Shipyard, registered: str, model_files: ModelFiles) -> None:
    shipyard("models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv)
    shipyard("models", "alias", "iris", "staging", "1")
    assert json.loads(shipyard("models", "show", "iris@staging", "--json").stdout)["version"] == 1


def test_alias_move_and_delete(shipyard: Shipyard, registered: str, model_files: ModelFiles) -> None:
    shipyard("models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv)
    assert shipyard("models", "alias", "iris", "production", "1").stdout.strip() == "iris@production → 1"
    moved = shipyard("models", "alias", "iris", "production", "2", "--json")
    assert json.loads(moved.stdout) == {"model": "iris", "alias": "production", "version": 2, "previous": 1}
    deleted = shipyard("models", "alias", "iris", "production", "--delete")
    assert deleted.exit_code == 0
    assert json.loads(shipyard("models", "list", "--json").stdout)["models"][0]["aliases"] == {}


def test_pickle_with_trust_is_marked_unsafe(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard(
        "models", "register", "legacy", model_files.pickle_path, "--sample", model_files.sample_csv, "--trust-pickle"
    )
    assert result.exit_code == 0, result.output
    assert "UNSAFE" in result.stdout
    assert "UNSAFE" in shipyard("models", "list").stdout
    assert "UNSAFE" in shipyard("models", "show", "legacy").stdout
    assert "UNSAFE" in shipyard("models", "show", "legacy/1").stdout
    assert json.loads(shipyard("models", "list", "--json").stdout)["models"][0]["unsafe_versions"] == [1]


def test_global_home_option_wins(shipyard: Shipyard, model_files: ModelFiles, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    result = shipyard(
        "--home", other, "models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv
    )
    assert result.exit_code == 0, result.output
    assert (other / "registry.db").exists()
    assert json.loads(shipyard("--home", other, "models", "list", "--json").stdout)["models"][0]["name"] == "iris"
