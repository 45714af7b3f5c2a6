"""Fixtures for the SQL registry store: one URL per backend, isolated per test
(``tests/registry_backends.py``)."""

from __future__ import annotations

from registry_backends import BACKENDS, backend, db_url, store

__all__ = ["BACKENDS", "backend", "db_url", "store"]
