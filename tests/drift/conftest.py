"""Fixtures for the drift tests: a registry per backend (``tests/registry_backends.py``)."""

from __future__ import annotations

from registry_backends import backend, db_url

__all__ = ["backend", "db_url"]
