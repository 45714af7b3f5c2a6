"""Governance: risk tiers, the policy, approvals, model cards, serving controls, review
tickets, flags to look at afterwards, and erasures.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

``models.risk_tier`` (NULL: the policy's default tier). ``governance_policies`` keeps every
revision of the policy; ``approval_requests``/``approval_votes`` (one vote per actor and
request) are a version's approvals; ``model_cards`` every revision of a version's narrative
card; ``controls`` the per-target serving controls (review rules, guardrails, fallback, PII
marks, retention); ``review_tickets`` the predictions held for a person; ``governance_flags``
what must be reviewed afterwards (an emergency rollback); ``erasures`` the requests to erase
a subject (its keyed hash only).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("risk_tier", sa.String(16), nullable=True))
    op.create_table(
        "governance_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_governance_policies"),
        sa.UniqueConstraint("revision", name="uq_governance_policies_revision"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_approval_requests_model_id_models", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
    )
    op.create_index("ix_approval_requests_model_id_version", "approval_requests", ["model_id", "version"])
    op.create_table(
        "approval_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
            name="fk_approval_votes_request_id_approval_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_approval_votes"),
        sa.UniqueConstraint("request_id", "actor", name="uq_approval_votes_request_id"),
    )
    op.create_table(
        "model_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_model_cards_model_id_models", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_model_cards"),
        sa.UniqueConstraint("model_id", "version", "revision", name="uq_model_cards_model_id"),
    )
    op.create_table(
        "controls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_controls"),
        sa.UniqueConstraint("target", name="uq_controls_target"),
    )
    op.create_table(
        "review_tickets",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(128), nullable=True),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("key", sa.String(128), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("proposed", sa.Text(), nullable=False),
        sa.Column("fallback", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("deadline_at", _TS, nullable=False),
        sa.Column("webhook", sa.Text(), nullable=True),
        sa.Column("notified_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_review_tickets"),
    )
    op.create_index("ix_review_tickets_status_created_at", "review_tickets", ["status", "created_at"])
    op.create_index("ix_review_tickets_target", "review_tickets", ["target"])
    op.create_table(
        "governance_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("cleared_by", sa.String(255), nullable=True),
        sa.Column("cleared_at", _TS, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_governance_flags"),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("requested_at", _TS, nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_erasures"),
    )
    op.create_index("ix_erasures_subject_hash", "erasures", ["subject_hash"])


def downgrade() -> None:
    op.drop_index("ix_erasures_subject_hash", table_name="erasures")
    op.drop_table("erasures")
    op.drop_table("governance_flags")
    op.drop_index("ix_review_tickets_target", table_name="review_tickets")
    op.drop_index("ix_review_tickets_status_created_at", table_name="review_tickets")
    op.drop_table("review_tickets")
    op.drop_table("controls")
    op.drop_table("model_cards")
    op.drop_table("approval_votes")
    op.drop_index("ix_approval_requests_model_id_version", table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_table("governance_policies")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("risk_tier")
