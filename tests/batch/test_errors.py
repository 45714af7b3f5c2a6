"""Every kind of bad input is one line on stderr (``error:``, maybe ``hint:``) and its exit code,
before anything is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_support import Shipyard, assert_one_line_error, numeric_frame, write_parquet


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    write_parquet(numeric_frame(20), tmp_path / "in.parquet")
    (tmp_path / "lacks.csv").write_text("a,b,x,y\n1,2,3,4\n")
    write_parquet(numeric_frame(5).astype({"c": str}), tmp_path / "text.parquet")
    (tmp_path / "broken.csv").write_text("a,b,c,d\n1,2,3,4\n1,2,3\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "notes.txt").write_text("a,b,c,d\n")
    (tmp_path / "taken.parquet").write_bytes(b"someone's file")
    (tmp_path / "not-parquet.parquet").write_text("a,b,c,d\n")
    return tmp_path


CASES = [
    pytest.param(["nope", "--input", "in.parquet"], 3, "nope", id="unknown-model"),
    pytest.param(["lr/9", "--input", "in.parquet"], 3, "9", id="unknown-version"),
    pytest.param(["lr@nowhere", "--input", "in.parquet"], 3, "nowhere", id="unknown-alias"),
    pytest.param(["../lr", "--input", "in.parquet"], 2, "invalid model name", id="bad-ref"),
    pytest.param(["lr", "--input", "absent.parquet"], 2, "input file not found", id="missing-input"),
    pytest.param(["lr", "--input", "notes.txt"], 2, "cannot tell the format", id="unknown-format"),
    pytest.param(["lr", "--input", "not-parquet.parquet"], 2, "as Parquet", id="not-parquet"),
    pytest.param(["lr", "--input", "lacks.csv"], 2, "lacks the model's column(s) 'c', 'd'", id="columns-missing"),
    pytest.param(["lr", "--input", "text.parquet"], 2, "column 'c': expected float64, got string", id="column-type"),
    pytest.param(["lr", "--input", "broken.csv"], 2, "as CSV", id="broken-csv"),
    pytest.param(["lr", "--input", "empty.csv"], 2, "empty", id="empty-csv"),
    pytest.param(["lr", "--input", "in.parquet", "--engine", "ray"], 2, "Ray engine", id="ray-engine"),
    pytest.param(["lr", "--input", "in.parquet", "--chunk-rows", "0"], 2, "chunk-rows", id="chunk-rows"),
    pytest.param(["lr", "--input", "http://example.com/in.parquet"], 2, "s3://bucket/key only", id="http-url"),
    pytest.param(["lr", "--input", "s3://bucket-only"], 2, "not an S3 object URL", id="s3-no-key"),
]


@pytest.mark.parametrize(("args", "code", "needle"), CASES)
def test_bad_input_is_one_line(cli: Shipyard, inputs: Path, args: list[str], code: int, needle: str) -> None:
    result = cli("score", *args, "--output", "out.parquet")
    if needle in ("chunk-rows",):  # click's own usage error (exit 2) names the option
        assert result.exit_code == 2 and "--chunk-rows" in result.stderr
    else:
        assert_one_line_error(result, code, needle)
    assert not (inputs / "out.parquet").exists()
    assert not (inputs / "out.parquet.staging").exists()


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        pytest.param(["--output", "taken.parquet"], 4, "exists", id="output-exists"),
        pytest.param(["--output", "out.parquet", "--rejects", "taken.parquet"], 4, "exists", id="rejects-exist"),
        pytest.param(["--output", "out.csv"], 2, "not named as a Parquet file", id="output-not-parquet"),
        pytest.param(["--output", "out.parquet", "--rejects", "bad.json"], 2, "neither Parquet nor CSV", id="rejects"),
        pytest.param(["--output", "no/such/dir/out.parquet"], 2, "does not exist", id="output-directory"),
        pytest.param(["--output", "in.parquet"], 2, "three different places", id="output-is-input"),
    ],
)
def test_bad_output_is_one_line(cli: Shipyard, inputs: Path, args: list[str], code: int, needle: str) -> None:
    result = cli("score", "lr", "--input", "in.parquet", *args)
    assert_one_line_error(result, code, needle)
    assert (inputs / "taken.parquet").read_bytes() == b"someone's file"
    assert not (inputs / "out.parquet").exists()
    assert pd.read_parquet(inputs / "in.parquet").shape == (20, 4)
