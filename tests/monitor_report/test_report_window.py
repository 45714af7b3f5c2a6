"""Window figures on frames shaped like the prediction log read back: traffic by version and
variant, time buckets, drift against a reference summary, quality, performance from
labels, its estimate, outcomes, fairness, and the flat figures alerts and gauges read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_frames import HOUR, NOW, labelled, log_frame, reference, reference_frame
from sklearn.metrics import accuracy_score, f1_score

from shipyard.errors import InvalidRequest
from shipyard.lineage.profile import profile
from shipyard.monitoring.drift import drift_report, summarize
from shipyard.monitoring.fairness import fairness_report
from shipyard.monitoring.window import Reference, compute_window, parse_window


def window(frame: pd.DataFrame, refs: dict | None = None, **kwargs):  # type: ignore[no-untyped-def]
    return compute_window(frame, target="fraud", since=NOW - 24 * HOUR, until=NOW, references=refs, **kwargs)


def test_parse_window() -> None:
    assert parse_window("7d") == 7 * 86400
    assert parse_window("15m") == 900
    assert parse_window("2w") == 14 * 86400
    assert parse_window(" 1.5h ") == 5400
    for bad in ("", "7", "7y", "-1d", "0d", "d7", "367d", "1e3d", "7 days"):
        with pytest.raises(InvalidRequest):
            parse_window(bad)


def test_traffic_counts_requests_not_rows_and_splits_by_version_and_variant() -> None:
    frame = pd.concat(
        [
            log_frame(30, rows=3, version=1, variant="control", seed=1, errors=3),
            log_frame(10, rows=1, version=2, variant="canary", seed=2, errors=1),
        ],
        ignore_index=True,
    )
    w = window(frame)
    assert w.total.requests == 40
    assert w.total.errors == 4
    assert w.total.error_rate == pytest.approx(0.1)
    assert w.total.rows == 27 * 3 + 9 * 1
    by = {(t.version, t.variant): t for t in w.traffic}
    assert set(by) == {(1, "control"), (2, "canary")}
    assert by[(1, "control")].requests == 30 and by[(1, "control")].errors == 3
    assert by[(2, "canary")].error_rate == pytest.approx(0.1)
    # Latency percentiles over answered requests, one latency per request.
    answered = frame[frame["status"] == 200].drop_duplicates("request_id")
    assert w.total.latency_ms["p95"] == pytest.approx(np.percentile(answered["latency_ms"], 95))
    assert w.total.latency_ms["p50"] == pytest.approx(np.percentile(answered["latency_ms"], 50))
    flat = w.figures()
    assert flat[("fraud", "traffic.requests")] == 40
    assert flat[("fraud", "traffic.error_rate")] == pytest.approx(0.1)


def test_rows_outside_the_window_are_left_out() -> None:
    inside = log_frame(10, seed=1)
    outside = log_frame(7, seed=2, start=NOW - 48 * HOUR, end=NOW - 25 * HOUR, prefix="o")
    w = window(pd.concat([inside, outside], ignore_index=True))
    assert w.total.requests == 10


def test_series_buckets_cover_the_window_and_add_up() -> None:
    frame = log_frame(50, seed=3, errors=5)
    w = window(frame, {("fraud", 1): reference()})
    assert w.bucket_seconds == HOUR
    assert len(w.series) == 24
    assert [p["start"] for p in w.series] == sorted(p["start"] for p in w.series)
    assert sum(p["requests"] for p in w.series) == 50
    assert all(p["requests"] == 0 for p in w.series[:18])  # the traffic is in the last 6 hours
    busy = [p for p in w.series if p["requests"]]
    assert all("drift.share" in p for p in busy if p["rows"])


def test_bucket_width_follows_the_window_length() -> None:
    frame = log_frame(5, seed=4, start=NOW - 3600, end=NOW)
    short = compute_window(frame, target="fraud", since=NOW - 3600, until=NOW)
    assert short.bucket_seconds == 300 and len(short.series) == 12
    week = compute_window(frame, target="fraud", since=NOW - 7 * 86400, until=NOW)
    assert week.bucket_seconds == 86400


def test_drift_equals_drift_report_on_the_same_rows() -> None:
    ref_frame = reference_frame()
    frame = log_frame(200, seed=5, shift=12.0)
    w = window(frame, {("fraud", 1): reference(ref_frame)})
    (version,) = w.versions
    current = frame[frame["status"] == 200][["in.age", "in.plan"]].rename(columns=lambda c: c[3:])
    expected = drift_report(summarize(ref_frame), current).to_dict()
    assert version.drift is not None
    assert version.drift["columns"]["age"]["score"] == pytest.approx(expected["columns"]["age"]["score"], rel=1e-12)
    assert version.drift["share_of_drifted_columns"] == expected["share_of_drifted_columns"] == 1.0
    flat = w.figures()
    assert flat[("fraud", "drift.share")] == 1.0
    assert flat[("fraud", "drift.detected")] == 1.0
    assert flat[("fraud", "drift.age.score")] == pytest.approx(expected["columns"]["age"]["score"], rel=1e-12)
    assert flat[("fraud", "drift.plan.detected")] == 1.0


def test_no_drift_when_the_traffic_looks_like_the_reference() -> None:
    w = window(log_frame(300, seed=6), {("fraud", 1): reference()})
    assert w.figures()[("fraud", "drift.share")] == 0.0


def test_without_a_reference_there_are_no_drift_or_quality_figures_and_a_note_says_why() -> None:
    w = window(log_frame(20, seed=7))
    names = {name for _, name in w.figures()}
    assert not any(n.startswith(("drift.", "quality.")) for n in names)
    assert any("no reference profile" in note for note in w.notes)


def test_distributions_bin_the_window_on_the_reference_edges() -> None:
    ref_frame = reference_frame()
    w = window(log_frame(100, seed=8, shift=20.0), {("fraud", 1): reference(ref_frame)})
    dist = w.versions[0].distributions
    assert set(dist) == {"age", "plan"}
    age = dist["age"]
    assert age["kind"] == "numeric"
    assert len(age["bins"]) == len(age["reference"]) == len(age["current"]) == len(age["edges"]) + 1
    assert sum(age["reference"]) == pytest.approx(1.0)
    assert sum(age["current"]) == pytest.approx(1.0)
    assert age["current"][-1] > age["reference"][-1]  # shifted up: more values above the reference's max
    plan = dist["plan"]
    assert plan["kind"] == "categorical"
    assert "d" in plan["bins"] and plan["reference"][plan["bins"].index("d")] == 0.0


def test_quality_flags_unseen_categories_and_missing_values() -> None:
    frame = log_frame(100, seed=9, shift=5.0)
    frame.loc[frame.index[:20], "in.age"] = np.nan
    w = window(frame, {("fraud", 1): reference()})
    flat = {name: value for (_, name), value in w.figures().items()}
    assert flat["quality.plan.unseen_share"] > 0.2  # "d" was never seen in the reference
    assert flat["quality.age.missing_rate"] == pytest.approx(20 / 200)
    assert flat["quality.max_missing_rate"] == pytest.approx(20 / 200)


def test_performance_from_labels_equals_scikit_learn() -> None:
    frame = labelled(log_frame(150, seed=10), share=0.6, seed=1)
    w = window(frame, {("fraud", 1): reference(metrics={"accuracy": 0.99})})
    rows = frame[frame["label"].notna()]
    y, p = rows["label"].astype(int), rows["out.predict"].astype(int)
    flat = {name: value for (_, name), value in w.figures().items()}
    assert flat["performance.accuracy"] == pytest.approx(accuracy_score(y, p))
    assert flat["performance.f1"] == pytest.approx(f1_score(y, p))
    assert flat["performance.rows"] == len(rows)
    group = next(g for g in w.groups if g.variant is None)
    assert group.labelled == len(rows)
    # Registered at 0.99: the live accuracy falls short (concept drift).
    assert flat["concept.drift_detected"] == 1.0
    assert flat["concept.accuracy.shortfall"] == pytest.approx(0.99 - accuracy_score(y, p))
    # The unlabelled rows get an estimate calibrated on the labelled ones.
    assert 0.0 <= flat["estimate.accuracy"] <= 1.0
    assert flat["estimate.rows"] == (frame["status"] == 200).sum() - len(rows)


def test_no_labels_no_performance() -> None:
    w = window(log_frame(40, seed=11), {("fraud", 1): reference()})
    names = {name for _, name in w.figures()}
    assert not any(n.startswith(("performance.", "estimate.", "concept.")) for n in names)


def test_fairness_by_an_attribute_from_feedback_equals_fairness_report() -> None:
    frame = labelled(log_frame(200, seed=12), share=1.0, seed=2)
    rng = np.random.default_rng(3)
    frame["attribute.segment"] = np.where(frame["status"] == 200, rng.choice(["x", "y", "<b>z</b>"], len(frame)), None)
    w = window(frame, {("fraud", 1): reference()})
    fairness = w.versions[0].fairness
    assert fairness is not None and fairness["attribute"] == "segment"
    rows = frame[frame["label"].notna()]
    expected = fairness_report(
        rows["label"].astype(int).tolist(), rows["out.predict"].astype(int).tolist(), rows["attribute.segment"].tolist()
    )
    assert fairness["demographic_parity_difference"] == pytest.approx(expected.demographic_parity_difference)
    assert {g["group"] for g in fairness["groups"]} == {"x", "y", "<b>z</b>"}
    flat = {name: value for (_, name), value in w.figures().items()}
    assert flat["fairness.equalized_odds_difference"] == pytest.approx(expected.equalized_odds_difference)


def test_fairness_with_an_unknown_attribute_is_a_note() -> None:
    frame = labelled(log_frame(50, seed=13), share=1.0, seed=4)
    frame["attribute.segment"] = "x"
    w = window(frame, {("fraud", 1): reference()}, sensitive="region")
    assert w.versions[0].fairness is None
    assert any("region" in note for note in w.notes)


def test_outcomes_per_variant() -> None:
    frame = pd.concat(
        [log_frame(20, variant="control", seed=14), log_frame(20, variant="canary", seed=15, prefix="c")],
        ignore_index=True,
    )
    frame["outcome.revenue"] = np.where(frame["variant"] == "canary", 3.0, 1.0)
    frame.loc[frame["status"] != 200, "outcome.revenue"] = np.nan
    w = window(frame, {("fraud", 1): reference()})
    by = {g.variant: g for g in w.groups}
    assert by["canary"].outcomes is not None and by["canary"].outcomes["revenue"]["mean"] == 3.0
    assert by["control"].outcomes is not None and by["control"].outcomes["revenue"]["sum"] == 40.0
    assert by[None].outcomes is not None and by[None].outcomes["revenue"]["count"] == 80


def test_cost_needs_metered_cpu() -> None:
    frame = log_frame(20, seed=16)
    without = window(frame, {("fraud", 1): reference()})
    assert all(g.cost is None for g in without.groups)
    assert any("CPU" in note for note in without.notes)
    metered = window(frame, {("fraud", 1): reference()}, cpu_seconds={(1, None): 2.0}, price_per_core_hour=3.6)
    flat = {name: value for (_, name), value in metered.figures().items()}
    assert flat["cost.cpu_seconds_per_1000"] == pytest.approx(1000 * 2.0 / 40)
    assert flat["cost.cost_per_1000"] == pytest.approx(1000 * 2.0 / 40 / 3600 * 3.6)


def test_primary_version_is_the_busiest() -> None:
    frame = pd.concat(
        [log_frame(5, version=1, seed=17), log_frame(30, version=2, seed=18, shift=15.0, prefix="v")], ignore_index=True
    )
    refs = {
        ("fraud", 1): reference(),
        ("fraud", 2): Reference("fraud", 2, profile(reference_frame()), summary=summarize(reference_frame())),
    }
    w = window(frame, refs)
    assert w.primary is not None and w.primary.version == 2
    assert w.figures()[("fraud", "drift.share")] == w.versions[1].drift["share_of_drifted_columns"]  # type: ignore[index]


def test_an_empty_window() -> None:
    w = window(pd.DataFrame(columns=["request_id", "row", "time", "model", "version", "status", "latency_ms", "rows"]))
    assert w.total.requests == 0 and w.total.error_rate is None
    assert w.traffic == [] and w.versions == [] and w.series == []
    assert w.figures() == {
        ("fraud", "traffic.requests"): 0.0,
        ("fraud", "traffic.rows"): 0.0,
        ("fraud", "traffic.errors"): 0.0,
    }
    assert w.to_dict()["total"]["requests"] == 0


def test_a_figure_that_fails_is_a_note_and_the_others_stay() -> None:
    frame = labelled(log_frame(60, seed=20), share=1.0, seed=5)
    frame["in.age"] = np.nan  # every value missing: no drift test can run on it
    w = window(frame, {("fraud", 1): reference()})
    assert w.versions[0].drift is None
    assert any(note.startswith("drift of fraud v1:") and "age" in note for note in w.notes)
    flat = {name for _, name in w.figures()}
    assert "quality.age.missing_rate" in flat and "performance.accuracy" in flat


def test_labels_that_cannot_be_compared_are_a_note() -> None:
    frame = labelled(log_frame(40, seed=21), share=1.0, seed=6)
    frame["label"] = frame["label"].map(lambda v: None if v is None or pd.isna(v) else {"nested": int(v)})
    w = window(frame, {("fraud", 1): reference()})
    assert all(g.performance is None for g in w.groups)
    assert any(note.startswith("performance:") for note in w.notes)


def test_distributions_of_booleans_and_many_categories() -> None:
    from shipyard.monitoring.distributions import OTHER, TOP_K, compare_distributions

    rng = np.random.default_rng(30)
    ref = pd.DataFrame({"flag": rng.random(500) < 0.2, "city": rng.choice([f"c{i}" for i in range(5)], 500)})
    cur = pd.DataFrame(
        {
            "flag": pd.Series([True] * 30 + [False] * 10 + [None] * 5, dtype=object),
            "city": [f"n{i}" for i in range(45)],  # 45 categories never seen
        }
    )
    dist = compare_distributions(profile(ref), cur)
    flag = dist["flag"]
    assert flag["bins"] == ["true", "false"]
    assert flag["current"] == pytest.approx([0.75, 0.25])
    assert flag["current_count"] == 40
    city = dist["city"]
    assert set(city["bins"][:5]) == {f"c{i}" for i in range(5)}  # the reference's categories first
    assert OTHER in city["bins"] and len(city["bins"]) == 5 + TOP_K + 1
    assert sum(city["current"]) == pytest.approx(1.0)
    assert city["current"][city["bins"].index(OTHER)] == pytest.approx((45 - TOP_K) / 45)


def test_figures_by_column_splits_per_column_figures_from_the_rest() -> None:
    from shipyard.monitoring.window import figures_by_column

    flat = {
        "drift.share": 0.5,
        "drift.a.b.score": 0.01,  # a column named "a.b"
        "drift.a.b.detected": 1.0,
        "drift.share.score": 0.2,  # a column named "share" does not clash with drift.share
        "quality.a.b.missing_rate": 0.1,
        "quality.max_missing_rate": 0.1,
        "performance.accuracy": 0.9,
        "outcome.revenue.sum": 3.0,
    }
    per_column, headline = figures_by_column(flat)
    assert per_column == {
        "a.b": {"drift.score": 0.01, "drift.detected": 1.0, "quality.missing_rate": 0.1},
        "share": {"drift.score": 0.2},
    }
    assert headline == {
        "drift.share": 0.5,
        "quality.max_missing_rate": 0.1,
        "performance.accuracy": 0.9,
        "outcome.revenue.sum": 3.0,
    }


def test_traffic_groups_mix_plain_model_and_deployment_requests() -> None:
    # Requests before a deployment took the model's name have no variant; pandas 3 stores the
    # column as strings with NaN for those: they must still group (and sort) with the others.
    from shipyard.monitoring.traffic import traffic_groups

    requests = pd.DataFrame(
        {
            "version": [1, 1, 2, 2, 2],
            "variant": [None, None, "stable", "stable", "candidate"],
            "status": [200, 500, 200, 200, 200],
            "latency_ms": [1.0, 2.0, 3.0, 4.0, 5.0],
            "rows": [1, 0, 2, 2, 1],
        }
    )
    groups = traffic_groups(requests)
    assert [(g.version, g.variant, g.requests, g.errors) for g in groups] == [
        (1, None, 2, 1),
        (2, "candidate", 1, 0),
        (2, "stable", 2, 0),
    ]


def test_drift_bars_use_a_log_axis_only_when_scores_span_orders_of_magnitude() -> None:
    from shipyard.monitoring.report.plots import _score_axis

    assert _score_axis([("a", 1e-30), ("b", 0.2)])["yaxis"]["type"] == "log"
    assert _score_axis([("a", 0.05), ("b", 0.2)]) == {}  # distances of one scale: linear
    assert _score_axis([("a", 0.0), ("b", 0.2)]) == {}  # a 0 has no place on a log axis
    assert _score_axis([("a", None), ("b", 0.2)]) == {}
