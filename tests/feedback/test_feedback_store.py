"""``FeedbackStore`` on SQLite and PostgreSQL: facts written once and merged, conflicts
atomic, reads by request and by window; experiments' outcomes are feedback facts (recorded
through either route, counted by the report), and migration 0007 brings the old ones over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from registry_backends import backend, db_url, store
from shipyard.errors import Conflict, InvalidRequest, NotFound
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.engine import create_engine, parse_url
from shipyard.registry.sql.feedback import Feedback, Prediction, check_feedback
from shipyard.registry.sql.migrate import alembic_config
from shipyard.registry.sql.rollouts import Assignment

__all__ = ["backend", "db_url", "store"]

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def prediction(
    rid: str = "r1", *, rows: int = 2, deployment: str | None = None, variant: str | None = None
) -> Prediction:
    return Prediction(
        request_id=rid,
        rows=rows,
        target=deployment or "clf",
        model="clf",
        version=3,
        time=T.timestamp(),
        caller="key:aaaaaaaaaaaa",
        deployment=deployment,
        variant=variant,
        label_type="int",
    )


def test_facts_are_written_once_and_merge(store: RegistryStore) -> None:
    first = store.feedback.record(prediction(), 1, Feedback(label=1), recorded_by="key:x")
    assert first.created
    assert first.feedback == {"label": 1, "value": None, "outcomes": {}, "attributes": {}}
    same = store.feedback.record(prediction(), 1, Feedback(label=1), recorded_by="key:x")
    assert not same.created
    more = store.feedback.record(
        prediction(), 1, Feedback(label=1, outcomes={"revenue": 2.5}, attributes={"group": "a"}), recorded_by="key:y"
    )
    assert more.created
    assert more.feedback["outcomes"] == {"revenue": 2.5}
    with pytest.raises(Conflict, match="already has label = 1, not 0"):
        store.feedback.record(prediction(), 1, Feedback(label=0, outcomes={"rating": 4.0}), recorded_by="key:x")
    # The conflicting feedback stored nothing (rating was new).
    rows = store.feedback.for_request("r1")
    assert [(r["row"], r["label"], r["outcomes"], r["attributes"]) for r in rows] == [
        (1, 1, {"revenue": 2.5}, {"group": "a"})
    ]
    assert rows[0]["predicted_at"].startswith("2026-11-01T12:00:00")
    # Another row of the same request is another set of facts.
    assert store.feedback.record(prediction(), 0, Feedback(label=0), recorded_by="key:x").created
    with pytest.raises(InvalidRequest, match="row 2 is not one of them"):
        store.feedback.record(prediction(), 2, Feedback(label=0), recorded_by="key:x")


def test_types_keep_apart(store: RegistryStore) -> None:
    # A string label "1" and the integer 1 are different facts; so are True and 1.
    p = prediction("r2", rows=1)
    p = Prediction(**{**p.__dict__, "label_type": None})
    store.feedback.record(p, 0, check_feedback(Feedback(label="1"), label_kind=None), recorded_by="k")
    with pytest.raises(Conflict):
        store.feedback.record(p, 0, Feedback(label=1), recorded_by="k")
    store.feedback.record(p, 0, Feedback(attributes={"flag": True}), recorded_by="k")
    with pytest.raises(Conflict):
        store.feedback.record(p, 0, Feedback(attributes={"flag": 1}), recorded_by="k")
    assert store.feedback.for_request("r2")[0]["label"] == "1"


@pytest.mark.parametrize(
    ("given", "kind", "message"),
    [
        (Feedback(label="a"), "int", "must be an integer"),
        (Feedback(label=1.5), "int", "must be an integer"),
        (Feedback(label=True), "float", "must be a number"),
        (Feedback(label=1), "string", "must be a string"),
        (Feedback(label=1), "bool", "must be a boolean"),
        (Feedback(value=float("nan")), None, "finite"),
        (Feedback(outcomes={"revenue": float("inf")}), None, "finite"),
        (Feedback(outcomes={"": 1.0}), None, "name"),
        (Feedback(attributes={"g": None}), None, "string, number or boolean"),  # type: ignore[dict-item]
        (Feedback(), None, "needs a"),
    ],
)
def test_check_feedback_refuses(given: Feedback, kind: str | None, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_feedback(given, label_kind=kind)


def test_facts_by_window_and_target(store: RegistryStore) -> None:
    for i in range(4):
        p = Prediction(**{**prediction(f"w{i}", rows=1).__dict__, "time": (T + timedelta(hours=i)).timestamp()})
        store.feedback.record(p, 0, Feedback(label=i % 2, outcomes={"revenue": float(i)}), recorded_by="k")
    facts = store.feedback.facts(target="clf", since=T + timedelta(hours=1), until=T + timedelta(hours=3))
    assert sorted({f.request_id for f in facts}) == ["w1", "w2"]
    revenue = store.feedback.facts(target="clf", kind="outcome", name="revenue", request_ids=["w0", "w3", "zz"])
    assert sorted((f.request_id, f.value) for f in revenue) == [("w0", 0.0), ("w3", 3.0)]
    assert store.feedback.facts(target="other") == []


def test_experiment_outcomes_are_feedback_facts(store: RegistryStore) -> None:
    at = datetime.now(UTC)
    store.rollouts.record_assignments([Assignment("ranker", f"x{i}", 1, "a" if i % 2 else "b", at) for i in range(6)])
    assert store.rollouts.record_outcome("ranker", "x1", "conversion", 1.0, recorded_by="k").created
    assert not store.rollouts.record_outcome("ranker", "x1", "conversion", 1, recorded_by="k").created
    with pytest.raises(Conflict):
        store.rollouts.record_outcome("ranker", "x1", "conversion", 0.0, recorded_by="k")
    with pytest.raises(NotFound):
        store.rollouts.record_outcome("ranker", "never", "conversion", 1.0, recorded_by="k")
    # Feedback through POST /feedback (found in the log: deployment and variant known) is the
    # same fact, and counts in the experiment.
    logged = prediction("x2", rows=1, deployment="ranker", variant="b")
    assert store.feedback.record(logged, 0, Feedback(outcomes={"conversion": 0.0}), recorded_by="k").created
    with pytest.raises(Conflict):
        store.rollouts.record_outcome("ranker", "x2", "conversion", 1.0, recorded_by="k")
    arms = store.rollouts.arm_outcomes("ranker", "conversion")
    assert {v: (n, list(values)) for v, (n, values) in arms.items()} == {"a": (3, [1.0]), "b": (3, [0.0])}
    assert store.feedback.for_request("x1")[0]["variant"] == "a"
    means = store.rollouts.outcome_means("ranker", ["conversion"], since=at - timedelta(seconds=1))
    assert means == {"conversion": {"a": 1 / 3, "b": 0.0}}


def test_migration_0007_brings_recorded_outcomes_over(db_url: str) -> None:
    engine = create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "0006")
            conn.commit()
            at = datetime(2026, 10, 1, tzinfo=UTC).replace(tzinfo=None) if conn.dialect.name == "sqlite" else T
            conn.execute(
                sa.text(
                    "INSERT INTO rollout_assignments (deployment, request_id, revision, variant, at) "
                    "VALUES ('ranker', 'old-1', 2, 'a', :at), ('ranker', 'old-2', 2, 'b', :at)"
                ),
                {"at": at},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO rollout_outcomes (deployment, request_id, metric, value, variant, recorded_by, at) "
                    "VALUES ('ranker', 'old-1', 'conversion', 1.0, 'a', 'key:x', :at), "
                    "('ranker', 'old-2', 'revenue', 12.5, 'b', 'key:y', :at)"
                ),
                {"at": at},
            )
            conn.commit()
    finally:
        engine.dispose()
    upgraded = RegistryStore(db_url)
    try:
        arms = upgraded.rollouts.arm_outcomes("ranker", "conversion")
        assert {v: (n, list(values)) for v, (n, values) in arms.items()} == {"a": (1, [1.0]), "b": (1, [])}
        old = upgraded.feedback.for_request("old-2")
        assert [(r["row"], r["variant"], r["outcomes"]) for r in old] == [(0, "b", {"revenue": 12.5})]
        assert not upgraded.rollouts.record_outcome("ranker", "old-1", "conversion", 1.0, recorded_by="k").created
    finally:
        upgraded.close()
