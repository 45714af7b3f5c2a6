"""Fixtures for the hostile-input tests (``hostile_files.snapshot_tree`` compares a home before and after)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def precious(tmp_path: Path) -> Path:
    """A file a hostile model would like to overwrite, read or delete."""
    path = tmp_path / "precious.bin"
    path.write_bytes(b"precious data, do not touch")
    return path


@pytest.fixture
def auth(request: pytest.FixtureRequest) -> dict[str, str]:
    """The headers every HTTP test sends: the server's admin key. The one place to change
    if the way tests authenticate changes (``LiveServer.auth_headers``)."""
    server = request.getfixturevalue("server")
    return dict(getattr(server, "auth_headers", None) or {})
