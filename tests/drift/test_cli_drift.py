"""``shipyard monitor drift REF CURRENT``: CSV and Parquet files, a table or JSON, clear one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from shipyard.cli.main import cli
from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.summaries import summarize


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame(
        {"amount": rng.normal(50, 10, 1500), "channel": rng.choice(["web", "app", "shop"], 1500), "n": rng.random(1500)}
    )
    current = pd.DataFrame(
        {"amount": rng.normal(58, 10, 700), "channel": rng.choice(["web", "app", "shop"], 700), "n": rng.random(700)}
    )
    ref_path, cur_path = tmp_path / "reference.csv", tmp_path / "current.parquet"
    reference.to_csv(ref_path, index=False)
    current.to_parquet(cur_path, index=False)
    return ref_path, cur_path, pd.read_csv(ref_path), pd.read_parquet(cur_path)


def test_json_is_the_report(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame]) -> None:
    ref_path, cur_path, reference, current = files
    result = _run("monitor", "drift", ref_path, cur_path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(drift_report(reference, current).to_dict()))


def test_table_names_each_column_and_the_verdict(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame]) -> None:
    ref_path, cur_path, _, _ = files
    result = _run("monitor", "drift", ref_path, cur_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    amount = next(line for line in lines if "amount" in line)
    assert "wasserstein" in amount and "DRIFT" in amount
    channel = next(line for line in lines if "channel" in line)
    assert "jensenshannon" in channel and "ok" in channel
    assert (
        "1 of 3 columns drifted (33%); dataset drift not detected (at a share of 50%; mode evidently)" in result.stdout
    )


def test_chosen_tests_threshold_and_share(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame]) -> None:
    ref_path, cur_path, reference, current = files
    args = ["--stattest", "psi", "--column-stattest", "amount=ks", "--threshold", "0.2", "--drift-share", "0.3"]
    result = _run("monitor", "drift", ref_path, cur_path, *args, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    expected = drift_report(
        reference,
        current,
        stattest="psi",
        per_column_stattest={"amount": "ks"},
        stattest_threshold=0.2,
        drift_share=0.3,
    )
    assert body == json.loads(json.dumps(expected.to_dict()))
    assert body["columns"]["amount"]["stattest"] == "ks" and body["columns"]["n"]["stattest"] == "psi"
    assert body["dataset_drift"] is True


def test_a_saved_summary_is_a_reference(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    ref_path, cur_path, reference, _ = files
    summary_path = tmp_path / "reference.npz"
    summary_path.write_bytes(summarize(reference).to_bytes())
    from_summary = _run("monitor", "drift", summary_path, cur_path, "--json")
    from_file = _run("monitor", "drift", ref_path, cur_path, "--json")
    assert from_summary.exit_code == 0 and json.loads(from_summary.stdout) == json.loads(from_file.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column-stattest", "amount"], "invalid --column-stattest 'amount'"),
        (["--column-stattest", "nope=ks"], "per_column_stattest names columns that are not compared: 'nope'"),
        (["--column-stattest", "channel=ks"], "drift test 'ks' does not apply to categorical column 'channel'"),
        (["--stattest", "anderson"], "unknown drift test 'anderson'"),
        (["--drift-share", "2"], "drift_share must be a number from 0 to 1"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    files: tuple[Path, Path, pd.DataFrame, pd.DataFrame], args: list[str], message: str
) -> None:
    ref_path, cur_path, _, _ = files
    result = _run("monitor", "drift", ref_path, cur_path, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_bad_files_exit_2(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    ref_path, _, _, _ = files
    missing = _run("monitor", "drift", ref_path, tmp_path / "absent.csv")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    unreadable = _run("monitor", "drift", ref_path, broken)
    assert unreadable.exit_code == 2 and "cannot read broken.parquet" in unreadable.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("amount,channel,n\n")
    no_rows = _run("monitor", "drift", ref_path, empty)
    assert no_rows.exit_code == 2 and "the current data has no rows" in no_rows.stderr
    other = tmp_path / "other.csv"
    pd.DataFrame({"price": [1.0, 2.0]}).to_csv(other, index=False)
    mismatch = _run("monitor", "drift", ref_path, other)
    assert mismatch.exit_code == 2 and "missing from the reference: 'price'" in mismatch.stderr


def test_as_a_real_process(files: tuple[Path, Path, pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    ref_path, cur_path, _, _ = files
    env = {**os.environ, "SHIPYARD_HOME": str(tmp_path / "home")}
    completed = subprocess.run(
        [sys.executable, "-m", "shipyard", "monitor", "drift", str(ref_path), str(cur_path), "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["number_of_drifted_columns"] == 1
