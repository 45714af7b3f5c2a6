"""Fixtures for the lifecycle tests: a registry per backend (``tests/registry_backends.py``)."""

from __future__ import annotations

from registry_backends import BACKENDS, backend, db_url, store

__all__ = ["BACKENDS", "backend", "db_url", "store"]
