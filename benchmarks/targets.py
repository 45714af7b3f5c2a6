"""The performance targets (issue 3), checked as ratios within one run: PASS, FAIL or not measured.

Everything is against Shipyard's default configuration (`report.BASELINE`). "Peer configurations"
are all measured configurations that are not Shipyard's and not in-process. A Shipyard point with
failed requests fails its checks whatever its figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from report import BASELINE, INPROCESS, INPROCESS_BATCH, Summary, lookup
from rich.console import Console

MLSERVER_BATCH = "mlserver-batch"
MLFLOW = "mlflow"


@dataclass(frozen=True)
class Check:
    name: str
    target: str
    measured: str  # the figures, for a reader
    value: float | None  # the ratio or the latency compared with the threshold
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _is_peer(server: str) -> bool:
    return not server.startswith("shipyard") and server not in (INPROCESS, INPROCESS_BATCH)


def _ours(summaries: list[Summary], model: str, rows: int, concurrency: int) -> Summary | None:
    return lookup(summaries, BASELINE, (model, rows, concurrency))


def _missing(name: str, target: str, what: str) -> Check:
    return Check(name, target, f"not measured ({what})", None, None)


def _ratio_check(
    name: str, target: str, ours: Summary | None, theirs: Summary | None, minimum: float, *, rows: bool = False
) -> Check:
    if ours is None or theirs is None:
        return _missing(name, target, "Shipyard" if ours is None else "the peer")
    unit = "rows/s" if rows else "req/s"
    mine, other = (ours.rows_per_s, theirs.rows_per_s) if rows else (ours.req_per_s, theirs.req_per_s)
    value = mine / other if other else float("inf")
    measured = f"{value:,.2f}x ({mine:,.0f} vs {theirs.server} {other:,.0f} {unit})"
    return Check(name, target, measured, value, value >= minimum and not ours.errors)


def _fastest(summaries: list[Summary], key: tuple[str, int, int], keep) -> Summary | None:
    candidates = [s for s in summaries if s.key == key and keep(s.server) and not s.errors]
    return max(candidates, key=lambda s: s.rows_per_s, default=None)


def evaluate(summaries: list[Summary]) -> list[Check]:
    checks = []

    # 1. One-row LR at concurrency 16: >= 3x the fastest peer configuration, p99 < 10 ms.
    key = ("lr", 1, 16)
    ours = _ours(summaries, *key)
    best = _fastest(summaries, key, _is_peer)
    checks.append(_ratio_check("LR, 1 row, c=16: req/s vs fastest peer", "≥ 3x", ours, best, 3.0))
    if ours is None:
        checks.append(_missing("LR, 1 row, c=16: p99", "< 10 ms", "Shipyard"))
    else:
        checks.append(
            Check(
                "LR, 1 row, c=16: p99",
                "< 10 ms",
                f"{ours.p99_ms:.2f} ms",
                ours.p99_ms,
                ours.p99_ms < 10 and not ours.errors,
            )
        )

    # 2. One-row RF at concurrency 64: >= 3x MLServer with batching, >= 50x mlflow, p99 no worse than MLServer-batch.
    key = ("rf", 1, 64)
    ours = _ours(summaries, *key)
    mlserver_batch = lookup(summaries, MLSERVER_BATCH, key)
    checks.append(_ratio_check("RF, 1 row, c=64: req/s vs MLServer (batching)", "≥ 3x", ours, mlserver_batch, 3.0))
    checks.append(_ratio_check("RF, 1 row, c=64: req/s vs mlflow", "≥ 50x", ours, lookup(summaries, MLFLOW, key), 50.0))
    name, target = "RF, 1 row, c=64: p99 vs MLServer (batching)", "≤ theirs"
    if ours is None or mlserver_batch is None:
        checks.append(_missing(name, target, "Shipyard" if ours is None else "MLServer (batching)"))
    else:
        value = ours.p99_ms / mlserver_batch.p99_ms if mlserver_batch.p99_ms else float("inf")
        measured = f"{ours.p99_ms:.1f} ms vs {mlserver_batch.p99_ms:.1f} ms"
        checks.append(Check(name, target, measured, value, value <= 1.0 and not ours.errors))

    # 3. 100-row requests at concurrency 16: >= 1.5x the fastest MLServer configuration's rows/s.
    for model in ("lr", "rf"):
        key = (model, 100, 16)
        best = _fastest(summaries, key, lambda server: server.startswith("mlserver"))
        name = f"{model.upper()}, 100 rows, c=16: rows/s vs fastest MLServer"
        checks.append(_ratio_check(name, "≥ 1.5x", _ours(summaries, *key), best, 1.5, rows=True))

    # 4. Concurrency 1: p50 < 0.5 ms for the one-row LR.
    ours = _ours(summaries, "lr", 1, 1)
    name, target = "LR, 1 row, c=1: p50", "< 0.5 ms"
    if ours is None:
        checks.append(_missing(name, target, "Shipyard"))
    else:
        checks.append(Check(name, target, f"{ours.p50_ms:.3f} ms", ours.p50_ms, ours.p50_ms < 0.5 and not ours.errors))
    return checks


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [{**asdict(check), "verdict": check.verdict} for check in checks]


def render(console: Console, checks: list[Check]) -> None:
    colour = {"PASS": "green", "FAIL": "red", "n/a": "yellow"}
    console.print("[bold]Targets[/bold] (Shipyard default configuration, same run):")
    for check in checks:
        verdict = check.verdict
        console.print(
            f"  [{colour[verdict]}]{verdict:<4}[/{colour[verdict]}] {check.name}: {check.measured} (target {check.target})",
            highlight=False,
        )
