"""Rollouts: progressive-delivery state on deployments, per-worker telemetry windows,
request assignments and outcomes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``rollout_windows`` rows are written by every server worker (one per deployment, variant,
kind and second; replaced while the second is open) and merged by analyses and reports.
``rollout_assignments`` and ``rollout_outcomes`` carry the A/B experiments' measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("rollout_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("rollout_verdict", sa.Text(), nullable=True))
    op.create_table(
        "rollout_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("worker", sa.String(96), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_windows"),
        sa.UniqueConstraint("deployment", "variant", "kind", "worker", "second", name="uq_rollout_windows_deployment"),
    )
    op.create_index("ix_rollout_windows_deployment_second", "rollout_windows", ["deployment", "second"])
    op.create_table(
        "rollout_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_assignments"),
        sa.UniqueConstraint("deployment", "request_id", name="uq_rollout_assignments_deployment"),
    )
    op.create_table(
        "rollout_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollout_outcomes"),
        sa.UniqueConstraint("deployment", "request_id", "metric", name="uq_rollout_outcomes_deployment"),
    )
    op.create_index("ix_rollout_outcomes_deployment_metric", "rollout_outcomes", ["deployment", "metric"])


def downgrade() -> None:
    op.drop_index("ix_rollout_outcomes_deployment_metric", table_name="rollout_outcomes")
    op.drop_table("rollout_outcomes")
    op.drop_table("rollout_assignments")
    op.drop_index("ix_rollout_windows_deployment_second", table_name="rollout_windows")
    op.drop_table("rollout_windows")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("rollout_verdict")
        batch.drop_column("step_started_at")
        batch.drop_column("rollout_status")
