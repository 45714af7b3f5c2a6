"""``shipyard score`` answers as the model does in process, from Parquet and CSV, in any chunk size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from batch_support import ScoringHome, Shipyard, mixed_frame, numeric_frame, read, write_parquet

import shipyard


def _frame(model: str, rows: int) -> pd.DataFrame:
    return numeric_frame(rows) if model == "lr" else mixed_frame(rows)


@pytest.mark.parametrize("model", ["lr", "mixed"], ids=["numeric-lr", "mixed-pipeline"])
def test_outputs_match_in_process_predict(cli: Shipyard, scoring_home: ScoringHome, tmp_path: Path, model: str) -> None:
    frame = _frame(model, 2500)
    source = write_parquet(frame.assign(extra="ignored"), tmp_path / "in.parquet", row_group_rows=1000)
    summary = cli.score(model, "--input", source, "--output", "out.parquet", "--chunk-rows", "700")
    assert (summary["rows"], summary["scored"], summary["rejected"], summary["chunks"]) == (2500, 2500, 0, 4)
    assert summary["model"] == f"{model}/1"
    assert summary["runtime"] == "compiled"  # the verified compiled form, as `serve` would load it
    out = read(tmp_path / "out.parquet")
    assert list(out.columns) == ["row_id", "predict", "predict_proba", "model", "model_version"]
    assert out["row_id"].tolist() == list(range(2500))
    assert set(out["model"]) == {model} and set(out["model_version"]) == {1}
    fitted = getattr(scoring_home, model)
    assert out["predict"].tolist() == fitted.predict(frame).tolist()
    np.testing.assert_allclose(np.stack(out["predict_proba"]), fitted.predict_proba(frame), rtol=1e-6, atol=1e-9)
    # The same runtime the SDK's in-process model loads: the very same numbers.
    local = shipyard.load_model(f"{model}/1", home=scoring_home.path).predict_outputs(frame)
    assert np.array_equal(np.stack(out["predict_proba"]), local["predict_proba"])
    assert read(tmp_path / "out.rejects.parquet").empty


@pytest.mark.parametrize("model", ["lr", "mixed"], ids=["numeric-lr", "mixed-pipeline"])
def test_csv_input_scores_as_parquet_does(cli: Shipyard, tmp_path: Path, model: str) -> None:
    frame = _frame(model, 900)
    frame.to_csv(tmp_path / "in.csv", index=False)
    write_parquet(frame, tmp_path / "in.parquet")
    from_csv = cli.score(model, "--input", "in.csv", "--output", "csv.parquet", "--chunk-rows", "250")
    cli.score(model, "--input", "in.parquet", "--output", "parquet.parquet", "--chunk-rows", "250")
    assert from_csv["rows"] == from_csv["scored"] == 900
    assert pq.read_table(tmp_path / "csv.parquet").equals(pq.read_table(tmp_path / "parquet.parquet"))


def test_chunk_size_changes_nothing_but_the_row_groups(cli: Shipyard, tmp_path: Path) -> None:
    write_parquet(numeric_frame(1000), tmp_path / "in.parquet")
    small = cli.score("lr", "--input", "in.parquet", "--output", "small.parquet", "--chunk-rows", "7")
    whole = cli.score("lr", "--input", "in.parquet", "--output", "whole.parquet", "--chunk-rows", "5000")
    assert (small["chunks"], whole["chunks"]) == (143, 1)
    a, b = read(tmp_path / "small.parquet"), read(tmp_path / "whole.parquet")
    assert a["row_id"].tolist() == b["row_id"].tolist() and a["predict"].tolist() == b["predict"].tolist()
    np.testing.assert_allclose(np.stack(a["predict_proba"]), np.stack(b["predict_proba"]), rtol=1e-12)
    assert pq.ParquetFile(tmp_path / "small.parquet").metadata.num_row_groups == 143


def test_two_clean_runs_write_the_same_bytes(cli: Shipyard, tmp_path: Path) -> None:
    write_parquet(mixed_frame(600), tmp_path / "in.parquet")
    for name in ("one", "two"):
        cli.score("mixed", "--input", "in.parquet", "--output", f"{name}.parquet", "--chunk-rows", "100")
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()


def test_refs_by_version_and_alias_and_no_staging_left(cli: Shipyard, tmp_path: Path) -> None:
    write_parquet(numeric_frame(50), tmp_path / "in.parquet")
    assert cli("models", "alias", "lr", "batch", "1").exit_code == 0
    for ref in ("lr/1", "lr@batch"):
        summary = cli.score(ref, "--input", "in.parquet", "--output", "out.parquet", "--overwrite")
        assert summary["model"] == "lr/1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet", "out.rejects.parquet"]


def test_empty_input_gives_empty_files_with_the_schema(cli: Shipyard, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b,c,d\n")
    summary = cli.score("lr", "--input", "in.csv", "--output", "out.parquet")
    assert (summary["rows"], summary["chunks"]) == (0, 0)
    assert pq.read_schema(tmp_path / "out.parquet").names == [
        "row_id",
        "predict",
        "predict_proba",
        "model",
        "model_version",
    ]
    assert pq.read_table(tmp_path / "out.rejects.parquet").num_rows == 0


def test_overwrite_replaces_the_output(cli: Shipyard, tmp_path: Path) -> None:
    write_parquet(numeric_frame(30), tmp_path / "in.parquet")
    cli.score("lr", "--input", "in.parquet", "--output", "out.parquet")
    write_parquet(numeric_frame(40), tmp_path / "in.parquet")
    cli.score("lr", "--input", "in.parquet", "--output", "out.parquet", "--overwrite")
    assert len(read(tmp_path / "out.parquet")) == 40


def test_summary_table_without_json(cli: Shipyard, tmp_path: Path) -> None:
    write_parquet(numeric_frame(30), tmp_path / "in.parquet")
    result = cli("score", "lr", "--input", "in.parquet", "--output", "out.parquet")
    assert result.exit_code == 0, result.stderr
    assert "30 rows scored" in result.stdout and "compiled" in result.stdout
    assert "rows/s" in result.stdout
    assert json.loads(cli("models", "show", "lr", "--json").stdout)  # the registry is untouched and readable


def test_progress_counts_rows_for_parquet_and_bytes_for_csv(scoring_home: ScoringHome, tmp_path: Path) -> None:
    from shipyard.batch.runner import ScoreProgress, ScoreRequest, score
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings

    frame = numeric_frame(1000)
    write_parquet(frame, tmp_path / "in.parquet")
    frame.to_csv(tmp_path / "in.csv", index=False)
    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(scoring_home.path)}))
    try:
        for name in ("in.parquet", "in.csv"):
            seen: list[ScoreProgress] = []
            request = ScoreRequest(
                "lr", str(tmp_path / name), str(tmp_path / f"{name}.out.parquet"), chunk_rows=300, threads=2
            )
            summary = score(services.registry, services.settings, request, progress=seen.append)
            assert [p.rows for p in seen] == [300, 600, 900, 1000]
            assert summary.rows_per_second > 0
            if name.endswith(".parquet"):
                assert {p.rows_total for p in seen} == {1000}
            else:
                assert {p.rows_total for p in seen} == {None}
                assert seen[-1].read_bytes == seen[-1].total_bytes == (tmp_path / name).stat().st_size
    finally:
        services.close()


def test_the_cli_starts_without_the_batch_machinery() -> None:
    import subprocess
    import sys

    heavy = "('pyarrow', 'boto3', 'shipyard.batch.runner', 'shipyard.batch.chunks')"
    code = f"import sys, shipyard.cli.main; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
