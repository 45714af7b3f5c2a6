"""Run Evidently 0.7's DataDriftPreset on pairs of Parquet files; print its numbers as JSON (run in its venv).

    python evidently_drift.py CASES.json

CASES.json is a list of {"reference": PATH, "current": PATH, "options": {...}}; the output is a
list with one result per case, in order. "options" holds DataDriftPreset arguments (method, per_column_method, cat_method, num_method,
threshold, per_column_threshold, cat_threshold, num_threshold, drift_share). The output has, per
column, the ValueDrift score (the public metric) and the legacy DataDriftTable's stattest name,
score, threshold and verdict; the DriftedColumnsCount count and share; the dataset verdict; and the
seconds `Report.run` took (the frames are read before the clock starts).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)


def main() -> None:
    warnings.filterwarnings("ignore")
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with open(sys.argv[1], encoding="utf-8") as handle:
        cases = json.load(handle)
    json.dump([run(pd, Report, DataDriftPreset, case) for case in cases], sys.stdout)


def run(pd, Report, DataDriftPreset, case: dict) -> dict:
    reference = pd.read_parquet(case["reference"])
    current = pd.read_parquet(case["current"])
    options = case.get("options") or {}
    try:
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset(**options)]).run(current, reference)
        seconds = time.perf_counter() - started
    except Exception as exc:  # the parity tests compare errors too
        return {"error": f"{type(exc).__name__}: {exc}"}
    out: dict = {"seconds": seconds, "columns": {}}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            out["count"] = metric["value"]["count"]
            out["share"] = metric["value"]["share"]
        elif config["type"].endswith("ValueDrift"):
            out["columns"].setdefault(config["column"], {})["value"] = _number(metric["value"])
    for result, _ in snapshot.context._legacy_metrics.values():
        if hasattr(result, "drift_by_columns"):
            for name, column in result.drift_by_columns.items():
                out["columns"].setdefault(name, {}).update(
                    column_type=column.column_type,
                    stattest_name=column.stattest_name,
                    drift_score=_number(column.drift_score),
                    threshold=column.stattest_threshold,
                    drift_detected=bool(column.drift_detected),
                )
        elif hasattr(result, "dataset_drift"):
            out["dataset_drift"] = bool(result.dataset_drift)
            out["number_of_drifted_columns"] = result.number_of_drifted_columns
    return out


if __name__ == "__main__":
    main()
