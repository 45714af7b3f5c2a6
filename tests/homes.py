"""Private SHIPYARD_HOMEs for tests, opened through the real composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.bootstrap import Services, open_services
from shipyard.config import Settings


def open_home(home: Path, **overrides: Any) -> Services:
    """Services over a private SHIPYARD_HOME, ignoring the developer's environment."""
    return open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}, overrides=overrides))
