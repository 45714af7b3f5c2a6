"""Evidently 0.7 in its own venv (benchmarks/.venvs/evidently): the drift peer, pinned to pandas<3."""

from __future__ import annotations

from peers.venv import Venv

VENV = Venv(
    "evidently",
    candidates=(("evidently==0.7.*", "pandas<3"), ("evidently>=0.7,<0.8", "pandas<3,>=2")),
    probe_imports="evidently, evidently.legacy.report",
)
