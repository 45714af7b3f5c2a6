"""Drift time next to Evidently (issue 8): the `drift` section of `make bench`.

The same frames for both: 20 mixed columns (10 float, 3 wide-range int, 2 small-range int, 4
string categories, 1 bool), a reference and a current frame of N rows each (N = 1e5 and 1e6), the
current one drifted in some columns. They are written to Parquet; Evidently 0.7's
`Report([DataDriftPreset()]).run(current, reference)` runs in its own venv
(benchmarks/.venvs/evidently, pandas<3), timed there around `run` only; Shipyard's
`drift_report(reference, current)` runs here on the same files read back, timed the same way
(frames in memory). Also shown: Shipyard from a reference summarised once (as registered with a
version), current frame against that summary. Shipyard is repeated and its median reported;
Evidently runs once per size at 1e6 rows (it takes minutes), twice below. The largest difference
between the two tools' per-column scores is reported alongside (parity: within 1e-9).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from peers.evidently import VENV
from rich.console import Console
from rich.table import Table

from shipyard.monitoring import drift_report
from shipyard.monitoring.drift.summaries import summarize

SECTION = "drift"
SIZES = (100_000, 1_000_000)
COLUMNS = 20
SHIPYARD_REPEATS = 5
SCRIPT = Path(__file__).resolve().parent / "scripts" / "evidently_drift.py"


def make_frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and drifted current frames: 20 columns of mixed types, the same for both tools."""
    rng = np.random.default_rng(seed)
    categories = np.array(["web", "app", "shop", "phone", "partner"])

    def frame(drift: float) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i in range(10):
            data[f"f{i}"] = rng.normal(drift * (i % 3 == 0) * 0.3, 1.0 + drift * (i % 4 == 1) * 0.5, rows)
        for i in range(3):
            data[f"w{i}"] = rng.integers(0, 1000 + int(drift * 200 * (i == 0)), rows)
        for i in range(2):
            data[f"k{i}"] = rng.integers(0, 5 + int(drift * (i == 0)), rows)
        mix = np.array([0.4, 0.25, 0.15, 0.12, 0.08]) + drift * np.array([-0.15, 0.0, 0.05, 0.05, 0.05]) * (1.0)
        for i in range(4):
            probabilities = mix if i < 2 else np.array([0.4, 0.25, 0.15, 0.12, 0.08])
            data[f"c{i}"] = rng.choice(categories, rows, p=probabilities / probabilities.sum())
        data["flag"] = rng.random(rows) < 0.2 + 0.05 * drift
        return pd.DataFrame(data)

    return frame(0.0), frame(1.0)


def _time(function: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _evidently(workdir: Path, paths: tuple[Path, Path], runs: int, log_dir: Path) -> dict[str, Any]:
    VENV.ensure(log_dir)
    manifest = workdir / "drift-cases.json"
    manifest.write_text(json.dumps([{"reference": str(paths[0]), "current": str(paths[1])}] * runs))
    completed = subprocess.run(
        [str(VENV.python), str(SCRIPT), str(manifest)], capture_output=True, text=True, timeout=3600, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"Evidently failed: {completed.stderr.strip()[-300:]}")
    results = json.loads(completed.stdout)
    return {"seconds": statistics.median(r["seconds"] for r in results), "runs": len(results), "result": results[0]}


def _max_difference(report: Any, evidently: dict[str, Any]) -> float:
    worst = 0.0
    for name, theirs in evidently["columns"].items():
        value = theirs["value"]
        ours = report.columns[name].score
        if isinstance(value, str):
            worst = max(worst, 0.0 if str(ours) == value else math.inf)
        else:
            worst = max(worst, abs(ours - value))
    return worst


def unavailable_reason() -> str | None:
    return None


def run(args: argparse.Namespace, workdir: Path, console: Console) -> dict[str, Any]:
    out: dict[str, Any] = {"columns": COLUMNS, "sizes": [], "evidently_version": None}
    evidently_reason = None
    for rows in SIZES:
        console.print(f"  drift: {rows:,} rows x {COLUMNS} columns", highlight=False)
        reference, current = make_frames(rows)
        paths = (workdir / f"drift-ref-{rows}.parquet", workdir / f"drift-cur-{rows}.parquet")
        reference.to_parquet(paths[0], index=False)
        current.to_parquet(paths[1], index=False)
        reference, current = pd.read_parquet(paths[0]), pd.read_parquet(paths[1])
        drift_report(reference.head(1000), current.head(1000))  # warm: imports, thread pool
        seconds, report = _time(lambda: drift_report(reference, current), SHIPYARD_REPEATS)  # noqa: B023
        summary_seconds, summary = _time(lambda: summarize(reference), 3)  # noqa: B023
        against_seconds, _ = _time(lambda: drift_report(summary, current), SHIPYARD_REPEATS)  # noqa: B023
        entry: dict[str, Any] = {
            "rows": rows,
            "shipyard_seconds": seconds,
            "shipyard_reference_summary_seconds": summary_seconds,
            "shipyard_against_summary_seconds": against_seconds,
            "drifted_columns": report.number_of_drifted_columns,
            "evidently_seconds": None,
        }
        if evidently_reason is None:
            try:
                evidently = _evidently(workdir, paths, 1 if rows >= 1_000_000 else 2, workdir)
                entry["evidently_seconds"] = evidently["seconds"]
                entry["evidently_runs"] = evidently["runs"]
                entry["max_score_difference"] = _max_difference(report, evidently["result"])
                entry["same_verdicts"] = all(
                    report.columns[name].drift_detected == theirs["drift_detected"]
                    for name, theirs in evidently["result"]["columns"].items()
                )
                entry["speedup"] = evidently["seconds"] / seconds
            except Exception as exc:  # a venv that cannot be built, or Evidently failing
                evidently_reason = str(exc)
        out["sizes"].append(entry)
        paths[0].unlink()
        paths[1].unlink()
    out["evidently_skipped"] = evidently_reason
    if evidently_reason is None:
        out["evidently_version"] = VENV.versions().get("evidently")
    return out


def _cells(entry: dict[str, Any]) -> list[str]:
    evidently = entry.get("evidently_seconds")
    return [
        f"{entry['rows']:,}",
        f"{entry['shipyard_seconds']:.2f}",
        f"{entry['shipyard_against_summary_seconds']:.2f} (+{entry['shipyard_reference_summary_seconds']:.2f} once)",
        f"{evidently:.1f}" if evidently is not None else "-",
        f"{entry['speedup']:.0f}x" if entry.get("speedup") else "-",
        f"{entry['max_score_difference']:.1e}" if "max_score_difference" in entry else "-",
        str(entry.get("same_verdicts", "-")),
    ]


HEADERS = [
    "rows",
    "Shipyard s",
    "Shipyard s vs stored reference",
    "Evidently s",
    "speed-up",
    "max |Δ score|",
    "same verdicts",
]


def render(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Drift report, {result['columns']} mixed columns (median seconds)", title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="right")
    for entry in result["sizes"]:
        table.add_row(*_cells(entry))
    console.print(table)
    if result.get("evidently_skipped"):
        console.print(f"[yellow]Evidently not run: {result['evidently_skipped']}[/yellow]", highlight=False)
    elif result.get("evidently_version"):
        console.print(f"Evidently {result['evidently_version']} in its own venv (pandas<3)", highlight=False)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"## Drift: {result['columns']} mixed columns, reference and current of N rows each",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(_cells(entry)) + " |" for entry in result["sizes"]]
    if result.get("evidently_skipped"):
        lines += ["", f"Evidently not run: {result['evidently_skipped']}"]
    elif result.get("evidently_version"):
        lines += ["", f"Evidently {result['evidently_version']} in its own venv (pandas<3)."]
    return "\n".join(lines) + "\n"
