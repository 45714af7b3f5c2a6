from __future__ import annotations

from pathlib import Path

import pytest

from homes import open_home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty SHIPYARD_HOME (health routes need no model)."""
    path = tmp_path / "home"
    open_home(path).close()
    return path
