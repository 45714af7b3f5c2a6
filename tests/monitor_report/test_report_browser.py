"""The report in a real headless Chromium: it renders with no console error, makes no network
request, every plot is drawn with data, and markup in names stays text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from report_browser import assert_clean, assert_plots_have_data, open_report
from report_frames import HOUR, NOW, labelled, log_frame, reference
from test_report_page import EVIL, hostile_window

from shipyard.monitoring.report import render_report
from shipyard.monitoring.window import compute_window


def full_window():  # type: ignore[no-untyped-def]
    """Two variants over a day: drift, quality, labels on part of the rows, outcomes, groups."""
    frame = pd.concat(
        [
            log_frame(120, variant="control", seed=1, errors=6),
            log_frame(60, variant="canary", seed=2, shift=10.0, prefix="c", start=NOW - 3 * HOUR),
        ],
        ignore_index=True,
    )
    frame = labelled(frame, share=0.5, seed=3)
    frame["outcome.revenue"] = frame["label"].map(lambda v: None if v is None or pd.isna(v) else 5.0 * float(v))
    frame["attribute.segment"] = frame["request_id"].map(lambda r: "north" if hash(r) % 2 else "south")
    return compute_window(
        frame, target="fraud", since=NOW - 24 * HOUR, until=NOW, references={("fraud", 1): reference()}
    )


def test_full_report_renders_cleanly_with_data_in_every_plot(tmp_path: Path) -> None:
    window = full_window()
    path = tmp_path / "report.html"
    path.write_text(render_report(window), encoding="utf-8")
    opened = open_report(path)
    assert_clean(opened, path)
    assert_plots_have_data(opened, at_least=8)
    ids = {p["id"] for p in opened.plots}
    assert {"plot-traffic", "plot-latency", "plot-drift-share", "plot-performance", "plot-outcomes"} <= ids
    assert any(i.startswith("plot-dist-1-") for i in ids)
    assert "plot-fairness-v1" in ids and "plot-quality-v1" in ids
    drift = next(p for p in opened.plots if p["id"] == "plot-drift-share")
    assert drift["traces"][0]["finite"] >= 3  # several hours with traffic
    reference_vs_current = next(p for p in opened.plots if p["id"].startswith("plot-dist-1-"))
    assert [t["name"] for t in reference_vs_current["traces"]] == ["reference", "current"]
    assert opened.landmarks == {"header": 1, "nav": 1, "main": 1, "footer": 1}
    assert opened.headings[0] == "Monitoring report: fraud"
    assert {"Summary", "Drift", "Reference and current distributions", "Fairness", "Data quality"} <= set(
        opened.headings
    )


def test_markup_in_names_is_shown_as_text_and_never_runs(tmp_path: Path) -> None:
    path = tmp_path / "hostile.html"
    path.write_text(render_report(hostile_window()), encoding="utf-8")
    opened = open_report(path)
    assert_clean(opened, path)  # no alert() dialog, no request for src=x
    assert opened.images == 0
    assert opened.scripts == 2 + len(opened.plots)  # plotly.js, the drawing script, the JSON blocks
    assert opened.title == f"Monitoring report: fraud{EVIL}"
    assert EVIL in opened.text  # shown, literally
    assert_plots_have_data(opened, at_least=4)
    names = {t["name"] for p in opened.plots for t in p["traces"]}
    assert "reference" in names
