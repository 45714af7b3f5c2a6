"""Compiled forms of versions: the ONNX artifact, its agreement report, which form serves.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

A table of its own rather than columns on ``model_versions``: versions stay immutable rows,
and compiling an existing version later only adds (or replaces) its row here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compiled_versions",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=True),
        sa.Column("artifact_size", sa.BigInteger(), nullable=True),
        sa.Column("artifact_filename", sa.String(255), nullable=True),
        sa.Column("runtime", sa.String(64), nullable=True),
        sa.Column("report_json", sa.Text(), nullable=True),
        sa.Column("serving_runtime", sa.String(16), nullable=False),
        sa.Column("compile_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_compiled_versions_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_compiled_versions"),
    )


def downgrade() -> None:
    op.drop_table("compiled_versions")
