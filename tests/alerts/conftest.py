"""Fixtures for the alert tests: a registry per backend (``tests/registry_backends.py``) and
a real webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhook_receiver import Receiver

from registry_backends import BACKENDS, backend, db_url, store

__all__ = ["BACKENDS", "backend", "db_url", "receiver", "store"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
