"""A server worker's share of alerting, run in spawned processes by the multi-process test:
evaluate the same figures at the same moments as the others, deliver what it won."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TIMELINE = [(0.9, 0), (0.9, 3), (0.9, 5), (0.1, 6), (0.9, 7), (0.9, 12), (0.05, 13)]
"""(drift share, minute): fires at 5, resolves at 6, fires at 12, resolves at 13."""


def evaluate_together(url: str, rules_text: str, secret: str, index: int, barrier: Any, results: Any) -> None:
    from shipyard.monitoring.alerts import AlertEngine, Backoff, Deliverer, parse_rules
    from shipyard.registry.sql import RegistryStore

    try:
        store = RegistryStore(url)
        rules = parse_rules(rules_text, allow_private=True)
        engine = AlertEngine(store.alerts, rules)
        engine.deliverer = Deliverer(
            store.alerts, lambda: rules, allow_private=True, backoff=Backoff(0.05, 0.2), env={"HOOK_SECRET": secret}
        )
        won = 0
        try:
            for share, minute in TIMELINE:
                barrier.wait(timeout=120)
                figures = {(f"fraud-{i}", "drift.share"): share for i in range(3)}
                won += len(engine.evaluate(figures, T0 + timedelta(minutes=minute)))
            engine.deliverer.wait_idle(30)
        finally:
            engine.close()
            store.close()
        results.put((index, "ok", won))
    except BaseException as exc:
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
