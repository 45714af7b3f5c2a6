"""A run killed mid-way (SIGKILL, a real child process) resumes from its checkpoint, and its
files are byte for byte those of a clean run; a checkpoint of something else is never mixed in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from batch_support import ScoringHome, Shipyard, assert_one_line_error, numeric_frame, score_command, write_parquet

ROWS = 60_000
CHUNK = "500"
"""120 chunks of a few milliseconds each: the run lasts far longer than the journal poll."""


def _big_input(path: Path) -> Path:
    frame = numeric_frame(ROWS)
    frame.loc[np.arange(17, ROWS, 997), "b"] = np.nan  # rejects in many chunks
    return write_parquet(frame, path, row_group_rows=30_000)


def _kill_after_first_chunk(home: Path, source: Path, output: Path) -> dict[str, Any]:
    """Start ``score`` in a child, SIGKILL it as soon as its journal records a chunk; the journal then."""
    journal = output.with_name(output.name + ".staging") / "journal.json"
    child = subprocess.Popen(score_command(home, "lr", "--input", source, "--output", output, "--chunk-rows", CHUNK))
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                done: dict[str, Any] = json.loads(journal.read_text())["done"]
            except (FileNotFoundError, ValueError):
                done = {"chunks": 0}
            if done["chunks"] >= 1:
                child.send_signal(signal.SIGKILL)
                break
            assert child.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no chunk was recorded within 60 s"
            time.sleep(0.001)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert not output.exists()
    left: dict[str, Any] = json.loads(journal.read_text())["done"]
    assert 1 <= left["chunks"] < ROWS // int(CHUNK)
    return left


def test_a_killed_run_resumes_to_the_bytes_of_a_clean_run(
    cli: Shipyard, scoring_home: ScoringHome, tmp_path: Path
) -> None:
    source = _big_input(tmp_path / "in.parquet")
    clean = cli.score("lr", "--input", source, "--output", "clean.parquet", "--chunk-rows", CHUNK)
    left = _kill_after_first_chunk(scoring_home.path, source, tmp_path / "out.parquet")
    resumed = cli.score("lr", "--input", source, "--output", "out.parquet", "--chunk-rows", CHUNK)
    assert resumed["resumed_from_chunk"] == left["chunks"]
    assert resumed["rows_this_run"] == ROWS - left["rows"]
    for key in ("rows", "scored", "rejected", "chunks"):
        assert resumed[key] == clean[key], key
    assert clean["rejected"] > 50
    assert (tmp_path / "out.parquet").read_bytes() == (tmp_path / "clean.parquet").read_bytes()
    assert (tmp_path / "out.rejects.parquet").read_bytes() == (tmp_path / "clean.rejects.parquet").read_bytes()
    assert not (tmp_path / "out.parquet.staging").exists()


def test_a_checkpoint_of_something_else_is_refused_until_no_resume(
    cli: Shipyard, scoring_home: ScoringHome, tmp_path: Path
) -> None:
    source = _big_input(tmp_path / "in.parquet")
    _kill_after_first_chunk(scoring_home.path, source, tmp_path / "out.parquet")
    args = ("score", "lr", "--input", source, "--output", "out.parquet")
    assert_one_line_error(cli(*args, "--chunk-rows", "800"), 4, "--chunk-rows 500 (this run: 800)")
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the input changed
    refused = cli(*args, "--chunk-rows", CHUNK)
    assert_one_line_error(refused, 4, "a different input", "out.parquet.staging")
    assert "--no-resume" in refused.stderr
    fresh = cli.score(*args[1:], "--chunk-rows", CHUNK, "--no-resume")
    assert fresh["resumed_from_chunk"] == 0 and fresh["rows"] == ROWS


@pytest.mark.parametrize("resume", ["--resume", "--no-resume"], ids=["resume", "no-resume"])
def test_a_staging_directory_without_a_journal_starts_over(cli: Shipyard, tmp_path: Path, resume: str) -> None:
    write_parquet(numeric_frame(100), tmp_path / "in.parquet")
    staging = tmp_path / "out.parquet.staging"
    staging.mkdir()
    (staging / "part-000003.arrow").write_bytes(b"left by a run killed before its first journal")
    (staging / "notes.txt").write_text("not ours: kept")
    summary = cli.score("lr", "--input", "in.parquet", "--output", "out.parquet", "--chunk-rows", "30", resume)
    assert (summary["resumed_from_chunk"], summary["scored"]) == (0, 100)
    assert sorted(p.name for p in staging.iterdir()) == ["notes.txt"]


def test_a_model_failing_on_valid_rows_stops_the_run_and_keeps_what_was_scored(cli: Shipyard, tmp_path: Path) -> None:
    values = np.arange(1000, dtype=np.float64) % 90
    values[650] = 1000.0  # valid for the signature; the model raises on it
    write_parquet(pd.DataFrame({"v": values}), tmp_path / "in.parquet")
    result = cli("score", "picky", "--input", "in.parquet", "--output", "out.parquet", "--chunk-rows", "200")
    assert_one_line_error(result, 7, "model picky/1 failed on rows 600-799: ValueError")
    assert "resume" in result.stderr
    journal = json.loads((tmp_path / "out.parquet.staging" / "journal.json").read_text())
    assert journal["done"]["chunks"] == 3  # chunks 0-2 are kept for the rerun
    assert not (tmp_path / "out.parquet").exists()
