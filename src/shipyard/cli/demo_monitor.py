"""The demo's monitoring step: every answer is in the prediction log, the true labels come
back as feedback (named by the caller's own ``X-Prediction-Key``), and the window's figures
are read from the log: traffic, accuracy on the labelled rows, drift against the training
data, and the CPU each 1,000 predictions cost. A new batch is checked for drift offline, as
one would before deploying, and the HTML report is written into the demo's home.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from shipyard.cli.output import table

MODEL = "demo-model"
LABELLED = 60
"""Test rows sent with a key of their own, then labelled through ``POST /feedback``."""
SHIFT = {"mean radius": 1.5, "mean texture": 1.5, "worst area": 1.8}
"""The offline batch: test rows with these columns scaled, as a sensor or a unit might."""


def run(out: Console, home: Path, url: str, api_key: str, *, x_train: Any, x_test: Any, y_test: Any) -> bool:
    """Send keyed requests, label them, show the window's figures and write the report;
    whether the figures came out of the log as expected (every labelled row joined)."""
    import httpx

    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.monitoring import drift_report
    from shipyard.monitoring.report import render_report
    from shipyard.monitoring.window_load import load_window

    rows, truth = x_test.iloc[:LABELLED], [int(t) for t in y_test.iloc[:LABELLED]]
    started = time.time()
    columns = [str(c) for c in rows.columns]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as http:
        for i, values in enumerate(rows.itertuples(index=False)):
            body = {"dataframe_split": {"columns": columns, "data": [list(values)]}}
            http.post("/invocations", json=body, headers={"X-Prediction-Key": f"case-{i}"}).raise_for_status()
        items = [{"key": f"case-{i}", "label": label} for i, label in enumerate(truth)]
        answer = http.post("/feedback", json={"items": items})
        answer.raise_for_status()
    recorded = sum(1 for r in answer.json().get("results", []) if r.get("status") in (200, 201))
    out.print(f"{LABELLED} requests sent with their own X-Prediction-Key; {recorded} labels sent back by key")

    services = open_services(Settings.load(overrides={"home": home}))
    try:
        # This step's traffic only: the load of the steps before replayed a few rows
        # thousands of times, which is drift by any measure.
        window = load_window(home, services.registry, MODEL, seconds=time.time() - started, series=True)
    finally:
        services.close()
    flat = {name: value for (_, name), value in window.figures().items()}
    labelled = int(flat.get("performance.rows", 0))

    def fmt(name: str, spec: str) -> str:
        value = flat.get(name)
        return "—" if value is None else format(value, spec)

    out.print(
        table(
            f"{MODEL}: this step's traffic, read back from the prediction log",
            ["requests", "rows", "error rate", "p95 ms", "accuracy (labelled rows)", "drift share", "CPU s / 1,000"],
            [
                [
                    window.total.requests,
                    window.total.rows,
                    fmt("traffic.error_rate", ".3f"),
                    fmt("latency.p95_ms", ".1f"),
                    f"{fmt('performance.accuracy', '.3f')} ({labelled})",
                    fmt("drift.share", ".2f"),
                    fmt("cost.cpu_seconds_per_1000", ".2f"),
                ]
            ],
        )
    )

    batch = x_test.copy()
    for column, factor in SHIFT.items():
        batch[column] = batch[column] * factor
    report = drift_report(x_train, batch)
    drifted = [c for c, r in report.to_dict()["columns"].items() if r["drift_detected"]]
    out.print(
        f"a new batch with {', '.join(SHIFT)} rescaled, checked against the training data before "
        f"deploying: drift in {len(drifted)} of {len(report.to_dict()['columns'])} columns ({', '.join(drifted)})"
    )

    path = home / "demo-report.html"
    path.write_text(render_report(window), encoding="utf-8")
    out.print(f"report with plots: {path} (kept with --keep; `shipyard monitor report` writes one for any model)")
    return labelled == recorded == LABELLED and bool(drifted)
