from __future__ import annotations

import sys
from pathlib import Path

# cli_support (the in-process `shipyard` runner) lives with the CLI tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
