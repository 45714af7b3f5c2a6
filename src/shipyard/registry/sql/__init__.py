"""The SQL registry store (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from shipyard.registry.sql.store import RegistryStore

__all__ = ["RegistryStore"]
