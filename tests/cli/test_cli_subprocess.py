"""``python -m shipyard`` as a real process: the entry point, exit codes, and the demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_support import ModelFiles, run_module


def test_module_entry_point_round_trip(home: Path, model_files: ModelFiles) -> None:
    registered = run_module(
        ["models", "register", "iris", model_files.skops_path, "--sample", model_files.sample_csv], home=home
    )
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.startswith("Registered iris/1 ")
    listed = run_module(["models", "list", "--json"], home=home)
    assert json.loads(listed.stdout)["models"][0]["name"] == "iris"


def test_module_error_is_one_line_with_exit_code(home: Path) -> None:
    result = run_module(["models", "show", "ghost"], home=home)
    assert result.returncode == 3
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_serve_refuses_an_unknown_model_before_listening(home: Path) -> None:
    result = run_module(["serve", "ghost", "--port", "0"], home=home, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[0].startswith("error: ")


def test_importing_the_cli_does_not_load_the_heavy_stack(home: Path) -> None:
    import subprocess

    heavy = "('sklearn', 'pandas', 'uvicorn', 'sqlalchemy')"
    code = f"import sys, shipyard.cli.main; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = run_module(["demo", "--home", tmp_path / "demo-home"], home=tmp_path / "unused", timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for expected in (
        "Registered demo-model/1",
        "Registered demo-model/2",
        "V2 /infer",
        "MLflow",
        "summary",
        # Which gate fails first depends on the machine's load (agreement, or p99 under a
        # busy CI): the canary is rolled back by itself either way.
        "rolled back from",
        "60 labels sent back by key",
        "drift in 3 of 30 columns",
        "demo passed",
    ):
        assert expected in result.stdout, expected
    # Step 6 read this step's 60 requests back from the log and joined all 60 labels.
    assert "(60)" in result.stdout
    assert (tmp_path / "demo-home" / "demo-report.html").stat().st_size > 100_000
    assert "failed" in result.stdout
