"""Fixtures for the security tests: a registry database per backend, and a home with a model.

SQLite gets a file under ``tmp_path``; PostgreSQL (127.0.0.1:5432) a database per module
and a schema per test, as in ``tests/registry``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry_backends import BACKENDS, backend, db_url, store
from shipyard.registry.sql import RegistryStore

__all__ = ["BACKENDS", "backend", "db_url", "store"]


@pytest.fixture
def hmac_store(db_url: str) -> Iterator[RegistryStore]:
    """A store whose audit entries carry an HMAC under a known key."""
    opened = RegistryStore(db_url, audit_hmac_key=b"audit-secret")
    yield opened
    opened.close()
