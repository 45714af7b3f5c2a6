"""Batch scoring throughput: `shipyard score` over 1e6 rows x 20 columns, against scikit-learn's
`predict` on the whole DataFrame in this process.

    python benchmarks/batch_score.py                 # 1e6 rows, lr and rf, 3 repeats
    python benchmarks/batch_score.py --rows 200000   # a quick look

The models are the benchmark's `lr` and `rf` (models.py: trained on a 20-column DataFrame),
registered in a private SHIPYARD_HOME (compiled and verified as any registration). The input
is a Parquet file of generated rows (row groups of 128k rows). Shipyard is measured as users
run it: `python -m shipyard score` in a child process, end to end (read Parquet, validate
against the signature, predict with the serving runtime, write the Parquet output); the rate
is the rows over the run's own time (its summary: model load included, interpreter start-up
not), and the wall time of the whole command is shown beside it. scikit-learn is measured on
the DataFrame already in memory (no reading, no writing): `predict`, and `predict` plus
`predict_proba` (Shipyard's output holds both); and the plain script a user would write for the
same job (`pd.read_parquet`, `predict` and `predict_proba`, `to_parquet`). Each figure is the
median of the repeats.
Plain Ray Data comes with the Ray engine (issue 11).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from models import COLUMNS, make_data, train
from rich.console import Console
from rich.table import Table

import shipyard

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
console = Console()
if not console.is_terminal:
    console.width = 160  # make bench | tee: keep the table readable


def _input(path: Path, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=128 * 1024)
    return frame


def _timed(call: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _sklearn_file(estimator: Any, source: Path, dest: Path) -> None:
    """The plain script a user would write instead: read the Parquet, predict, write the Parquet."""
    frame = pd.read_parquet(source)
    proba = estimator.predict_proba(frame)
    out = pd.DataFrame(proba, columns=[f"proba_{i}" for i in range(proba.shape[1])])
    out.insert(0, "predict", estimator.predict(frame))
    out.to_parquet(dest, index=False)


def _score(home: Path, name: str, source: Path, work: Path, repeats: int, chunk_rows: int | None) -> dict[str, float]:
    runs, walls = [], []
    for i in range(repeats):
        output = work / f"{name}-{i}.parquet"
        argv = [sys.executable, "-m", "shipyard", "--home", str(home), "score", name, "--input", str(source)]
        argv += ["--output", str(output), "--json", "--overwrite"]
        if chunk_rows is not None:
            argv += ["--chunk-rows", str(chunk_rows)]
        began = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"shipyard score failed: {done.stderr.strip()}")
        runs.append(json.loads(done.stdout))
    summary = runs[-1]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "wall_seconds": statistics.median(walls),
        "runtime": summary["runtime"],
        "chunks": summary["chunks"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="lr,rf", help="comma-separated: lr, rf")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: shipyard score's own")
    parser.add_argument("--output", type=Path, default=None, help="result JSON (default benchmarks/results/)")
    args = parser.parse_args(argv)
    keys = [k for k in args.models.split(",") if k]
    X, y = make_data()
    models = train(keys, X, y)
    results: dict[str, Any] = {"rows": args.rows, "columns": len(COLUMNS), "cpus": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="shipyard-batch-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        source = work / "input.parquet"
        console.print(f"generating {args.rows:,} rows x {len(COLUMNS)} columns ...")
        frame = _input(source, args.rows)
        for model in models:
            version = shipyard.register_model(
                model.name, model.estimator, training_data=(model.frame, model.target), home=home
            )
            console.print(f"{model.key}: registered {version.ref} ({version.serving_runtime} runtime); measuring ...")
            estimator = model.estimator
            predict = _timed(lambda: estimator.predict(frame), args.repeats)  # noqa: B023
            both = _timed(lambda: (estimator.predict(frame), estimator.predict_proba(frame)), args.repeats)  # noqa: B023
            script = _timed(lambda: _sklearn_file(estimator, source, work / "sklearn.parquet"), args.repeats)  # noqa: B023
            scored = _score(home, model.name, source, work, args.repeats, args.chunk_rows)
            results["models"][model.key] = {
                "title": model.title,
                "sklearn_predict_rows_per_s": args.rows / predict,
                "sklearn_predict_proba_rows_per_s": args.rows / both,
                "sklearn_file_to_file_rows_per_s": args.rows / script,
                "shipyard_rows_per_s": args.rows / scored["seconds"],
                "shipyard_wall_rows_per_s": args.rows / scored["wall_seconds"],
                "shipyard_runtime": scored["runtime"],
                "shipyard_chunks": scored["chunks"],
                "ratio_vs_predict": predict / scored["seconds"],
                "ratio_vs_predict_proba": both / scored["seconds"],
                "ratio_vs_file_to_file": script / scored["seconds"],
            }
    _show(results)
    RESULTS.mkdir(exist_ok=True)
    path = args.output or RESULTS / f"batch-score-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    console.print(f"results: {path}")
    return 0


def _show(results: dict[str, Any]) -> None:
    grid = Table(
        title=f"batch scoring, {results['rows']:,} rows x {results['columns']} columns, {results['cpus']} CPUs"
    )
    columns = (
        "model",
        "sklearn predict",
        "+ proba",
        "sklearn file→file",
        "shipyard score",
        "(wall)",
        "ratios",
        "runtime",
    )
    for column in columns:
        grid.add_column(column, justify="right" if column not in ("model", "runtime") else "left")
    for key, row in results["models"].items():
        grid.add_row(
            key,
            f"{row['sklearn_predict_rows_per_s']:,.0f}/s",
            f"{row['sklearn_predict_proba_rows_per_s']:,.0f}/s",
            f"{row['sklearn_file_to_file_rows_per_s']:,.0f}/s",
            f"{row['shipyard_rows_per_s']:,.0f}/s",
            f"{row['shipyard_wall_rows_per_s']:,.0f}/s",
            f"{row['ratio_vs_predict']:.2f}x / {row['ratio_vs_predict_proba']:.2f}x / {row['ratio_vs_file_to_file']:.2f}x",
            row["shipyard_runtime"],
        )
    console.print(grid)
    console.print(
        "ratios: shipyard score (end to end, Parquet to Parquet) over sklearn predict in memory / predict and"
        " predict_proba in memory / the plain script (read_parquet, predict and predict_proba, to_parquet)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
