from __future__ import annotations

from pathlib import Path

import pytest
from predlog_support import make_lr_home


@pytest.fixture
def lr_home(tmp_path: Path) -> Path:
    """A home with ``lr``: a LogisticRegression fitted on a DataFrame of columns a, b, c."""
    return make_lr_home(tmp_path / "home")
