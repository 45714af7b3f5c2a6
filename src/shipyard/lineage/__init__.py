"""Lineage of a model version: training data fingerprint and profile, environment, code."""

from __future__ import annotations

from shipyard.lineage.environment import code_version, environment
from shipyard.lineage.fingerprint import fingerprint
from shipyard.lineage.profile import bin_counts, merge_profiles, profile

__all__ = ["bin_counts", "code_version", "environment", "fingerprint", "merge_profiles", "profile"]
