"""Feedback: ground truth (a label or a value), business outcomes and sensitive attributes
recorded against logged predictions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

One row per (request id, prediction row, kind, name): ``kind`` is ``label``, ``value``,
``outcome`` or ``attribute`` (``name`` is empty for the first two). Each fact is written once;
the same again is accepted, another value refused. The prediction's target, model, version,
deployment, variant, caller and time are copied in, so feedback is read without the log.
The outcomes of experiments (``rollout_outcomes``) are copied in as ``outcome`` facts: from
now on they are recorded there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value_number", sa.Float(), nullable=True),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("deployment", sa.String(128), nullable=True),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=True),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.Column("predicted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("request_id", "row_index", "kind", "name", name="uq_feedback_request_id"),
    )
    op.create_index("ix_feedback_target_predicted_at", "feedback", ["target", "predicted_at"])
    op.create_index("ix_feedback_deployment_name", "feedback", ["deployment", "kind", "name"])
    _copy_rollout_outcomes()


def _copy_rollout_outcomes() -> None:
    """Experiments' outcomes are feedback facts from now on: bring the recorded ones over."""
    outcomes = sa.table(
        "rollout_outcomes",
        *(sa.column(c) for c in ("id", "deployment", "request_id", "metric", "value", "variant", "recorded_by", "at")),
    )
    assignments = sa.table(
        "rollout_assignments", *(sa.column(c) for c in ("deployment", "request_id", "revision", "at"))
    )
    joined = outcomes.outerjoin(
        assignments,
        sa.and_(assignments.c.deployment == outcomes.c.deployment, assignments.c.request_id == outcomes.c.request_id),
    )
    query = (
        sa.select(
            outcomes.c.deployment,
            outcomes.c.request_id,
            outcomes.c.metric,
            outcomes.c.value,
            outcomes.c.variant,
            outcomes.c.recorded_by,
            outcomes.c.at,
            assignments.c.revision,
            assignments.c.at.label("assigned_at"),
        )
        .select_from(joined)
        .order_by(outcomes.c.id)
    )
    bind = op.get_bind()
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for r in bind.execute(query):
        if (r.request_id, r.metric) in seen:
            continue
        seen.add((r.request_id, r.metric))
        rows.append(
            {
                "request_id": r.request_id,
                "row_index": 0,
                "kind": "outcome",
                "name": r.metric,
                "value_number": float(r.value),
                "value_json": repr(float(r.value)),
                "target": r.deployment,
                "model": "",
                "version": None,
                "deployment": r.deployment,
                "variant": r.variant,
                "revision": r.revision,
                "caller": "",
                "key": None,
                "predicted_at": r.assigned_at or r.at,
                "recorded_by": r.recorded_by,
                "recorded_at": r.at,
            }
        )
    if rows:
        columns: list[sa.ColumnClause[Any]] = [sa.column(name) for name in rows[0]]
        op.bulk_insert(sa.table("feedback", *columns), rows)


def downgrade() -> None:
    op.drop_index("ix_feedback_deployment_name", table_name="feedback")
    op.drop_index("ix_feedback_target_predicted_at", table_name="feedback")
    op.drop_table("feedback")
