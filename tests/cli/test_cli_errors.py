"""Every bad input is one line on stderr (``error:`` plus maybe ``hint:``) and its exit code."""

from __future__ import annotations

import pytest
from cli_support import ModelFiles, Shipyard


def assert_one_line_error(result, code: int, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    assert len(lines) <= 2
    if len(lines) == 2:
        assert lines[1].startswith("hint: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(["models", "show", "nope"], 3, "nope", id="unknown-model"),
        pytest.param(["models", "show", "iris/9"], 3, "9", id="unknown-version"),
        pytest.param(["models", "show", "iris@nowhere"], 3, "nowhere", id="unknown-alias"),
        pytest.param(["models", "show", "../x"], 2, "invalid model name", id="bad-ref"),
        pytest.param(["models", "show", "iris/0"], 2, "invalid version", id="bad-version"),
        pytest.param(["models", "alias", "iris", "1bad", "1"], 2, "invalid alias", id="bad-alias"),
        pytest.param(["models", "alias", "iris", "prod", "7"], 3, "7", id="alias-to-missing-version"),
        pytest.param(["predict", "nope", "--input", "x.csv"], 2, "x.csv", id="missing-input-file"),
    ],
)
def test_bad_references(shipyard: Shipyard, registered: str, args: list[str], code: int, needle: str) -> None:
    assert_one_line_error(shipyard(*args), code, needle)


def test_invalid_model_name(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard("models", "register", "../evil", model_files.skops_path, "--sample", model_files.sample_csv)
    assert_one_line_error(result, 2, "invalid model name")


def test_missing_model_file(shipyard: Shipyard) -> None:
    assert_one_line_error(shipyard("models", "register", "iris", "no/such.skops"), 2, "no/such.skops")


def test_missing_sample_file(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard("models", "register", "iris", model_files.skops_path, "--sample", "absent.csv")
    assert_one_line_error(result, 2, "absent.csv")


def test_pickle_needs_trust(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard("models", "register", "iris", model_files.pickle_path, "--sample", model_files.sample_csv)
    assert_one_line_error(result, 5, "pickle")
    assert "--trust-pickle" in result.stderr
    assert shipyard("models", "list", "--json").stdout.count('"name"') == 0


@pytest.mark.parametrize(
    "option",
    [
        pytest.param(["--metric", "accuracy"], id="metric-without-equals"),
        pytest.param(["--metric", "accuracy=high"], id="metric-not-a-number"),
        pytest.param(["--metric", "=1"], id="metric-without-key"),
        pytest.param(["--tag", "team"], id="tag-without-equals"),
    ],
)
def test_bad_key_value_options(shipyard: Shipyard, model_files: ModelFiles, option: list[str]) -> None:
    result = shipyard("models", "register", "iris", model_files.skops_path, *option)
    assert_one_line_error(result, 2, option[0])


def test_target_column_must_exist(shipyard: Shipyard, model_files: ModelFiles) -> None:
    result = shipyard(
        "models", "register", "iris", model_files.skops_path,
        "--training-data", model_files.training_csv, "--target", "colour",
    )  # fmt: skip
    assert_one_line_error(result, 2, "colour")


def test_unreadable_table(shipyard: Shipyard, model_files: ModelFiles, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = shipyard("models", "register", "iris", model_files.skops_path, "--sample", bad)
    assert_one_line_error(result, 2, "bad.json")


def test_usage_errors_keep_clicks_exit_code(shipyard: Shipyard) -> None:
    result = shipyard("models", "register", "iris")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


def test_serve_unknown_model_fails_before_starting(shipyard: Shipyard) -> None:
    assert_one_line_error(shipyard("serve", "ghost", "--port", "0"), 3, "ghost")


def test_serve_bad_rate_limits_fail_before_starting(
    shipyard: Shipyard, registered: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checked once in the parent: with several workers each would otherwise print a traceback.
    monkeypatch.setenv("SHIPYARD_RATE_LIMITS", "predictor=ten/s")
    assert_one_line_error(shipyard("serve", "iris", "--port", "0", "--workers", "2"), 2, "predictor=ten/s")
