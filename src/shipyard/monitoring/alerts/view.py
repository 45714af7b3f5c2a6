"""What ``shipyard alerts list`` and ``GET /api/alerts`` show: each rule, and the state of
its alert on every target it has seen (rules no longer in the file are shown too, as
``removed``, while their state rows remain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from shipyard.monitoring.alerts.rules import RuleFile
from shipyard.registry.sql.alerts import AlertState


def overview(
    rules: RuleFile, states: Sequence[AlertState], *, visible: Callable[[str], bool] = lambda _target: True
) -> list[dict[str, Any]]:
    """One entry per rule: its condition and ``alerts``, the states of the targets
    ``visible`` lets through."""
    by_rule: dict[str, list[AlertState]] = {}
    for state in states:
        if visible(state.target):
            by_rule.setdefault(state.rule, []).append(state)
    out: list[dict[str, Any]] = []
    for rule in rules.rules:
        out.append(
            {
                "rule": rule.name,
                "target": rule.target,
                "figure": rule.figure,
                "condition": rule.condition(),
                "window_seconds": rule.window,
                "for_seconds": rule.for_,
                "severity": rule.severity,
                "notify": list(rule.notify),
                "retrain": rule.retrain,
                "removed": False,
                "alerts": [s.to_dict() for s in by_rule.pop(rule.name, [])],
            }
        )
    for name, left in sorted(by_rule.items()):
        out.append({"rule": name, "removed": True, "alerts": [s.to_dict() for s in left]})
    return out
