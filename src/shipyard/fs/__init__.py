"""Filesystem helpers every store uses: paths that cannot leave their root."""

from __future__ import annotations

from shipyard.fs.paths import check_relative_name, safe_join

__all__ = ["check_relative_name", "safe_join"]
