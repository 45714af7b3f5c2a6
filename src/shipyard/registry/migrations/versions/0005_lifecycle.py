"""Version lifecycle: deprecated, retired, archived.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Columns on ``model_versions``: the only ones that change after a version is registered
(its artifact, signature, trust and lineage stay as they were signed). Every existing
version is ``active``. Added one by one with ``ADD COLUMN``, which both SQLite and
PostgreSQL do in place (nullable columns, or a constant default).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = ("deprecated_at", "sunset_at", "retired_at", "archived_at")


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"))
    for name in _TIMES[:2]:
        op.add_column("model_versions", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("model_versions", sa.Column("successor", sa.String(200), nullable=True))
    for name in _TIMES[2:]:
        op.add_column("model_versions", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("model_versions", sa.Column("lifecycle_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        for name in ("lifecycle_reason", *reversed(_TIMES), "successor", "lifecycle"):
            batch.drop_column(name)
