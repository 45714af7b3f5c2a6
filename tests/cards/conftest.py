"""Fixtures for the model card tests: services over a registry of each backend, with one
classifier registered (``card_support.register_clf``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from card_support import register_clf

from homes import open_home
from registry_backends import BACKENDS, backend, db_url
from shipyard.bootstrap import Services

__all__ = ["BACKENDS", "backend", "db_url", "svc"]


@pytest.fixture
def svc(db_url: str, tmp_path: Path) -> Iterator[Services]:
    """Services on a fresh registry of the current backend, with ``clf/1`` registered by ``alice``."""
    opened = open_home(tmp_path / "home", registry_url=db_url)
    try:
        register_clf(opened)
        yield opened
    finally:
        opened.close()
