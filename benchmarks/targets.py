"""The performance targets (issues 3 and 10), checked as ratios within one run: PASS, FAIL or not measured.

Everything is against Shipyard's default configuration (`report.BASELINE`), which is sent what
the metadata advertises: one V2 tensor per input (JSON). "Peer configurations" are all measured
configurations that are not Shipyard's and not in-process; each peer is sent its own native form.
A Shipyard point with failed requests fails its checks whatever its figures.

| target | check |
| --- | --- |
| LR, 1 row, c16 | req/s >= 4x the fastest peer configuration's; p99 < 10 ms |
| RF, 1 row, c64 | req/s >= 3x mlserver-batch's and >= 50x mlflow's; p99 <= mlserver-batch's |
| LR and RF, 100 rows, c16 | rows/s >= 1.5x the fastest peer configuration's |
| LR, 1 row, c1 | p50 < 0.5 ms |
| LR and RF, 1 row, c16 | gRPC (shipyard-grpc) req/s >= HTTP per-column (shipyard) |
| mixed pipeline, 1 row, c16 | req/s >= 3x MLServer in-process (mlserver-inproc) |
| LR, 1 and 100 rows, c16 | each HTTP request form's req/s >= 0.85x the [n, 20] matrix form's (shipyard-matrix) |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from report import BASELINE, INPROCESS_KEYS, Summary, lookup
from rich.console import Console
from rich.markup import escape

MLSERVER_BATCH = "mlserver-batch"
MLSERVER_INPROC = "mlserver-inproc"
MLFLOW = "mlflow"
GRPC = "shipyard-grpc"
MATRIX = "shipyard-matrix"
HTTP_FORMS = {
    BASELINE: "V2 per-column JSON",
    "shipyard-binary": "V2 per-column binary",
    "shipyard-mlflow": "MLflow dataframe_split",
    "shipyard-v1": "KServe V1 instances",
}
FORM_SHARE = 0.85


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
    return not server.startswith("shipyard") and server not in INPROCESS_KEYS


def _ours(summaries: list[Summary], model: str, rows: int, concurrency: int) -> Summary | None:
    return lookup(summaries, BASELINE, (model, rows, concurrency))


def _missing(name: str, target: str, what: str) -> Check:
    return Check(name, target, f"not measured ({what})", None, None)


def _ratio_check(
    name: str, target: str, ours: Summary | None, theirs: Summary | None, minimum: float, *, rows: bool = False
) -> Check:
    if ours is None or theirs is None:
        return _missing(name, target, "Shipyard" if ours is None else "the peer")
    if theirs.errors and theirs.server.startswith("shipyard"):
        return Check(name, target, f"{theirs.server} had {theirs.errors} failed requests", None, False)
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

    # 1. One-row LR at concurrency 16: >= 4x the fastest peer configuration, p99 < 10 ms.
    key = ("lr", 1, 16)
    ours = _ours(summaries, *key)
    best = _fastest(summaries, key, _is_peer)
    checks.append(_ratio_check("LR, 1 row, c=16: req/s vs fastest peer", "≥ 4x", ours, best, 4.0))
    checks.append(_latency_check("LR, 1 row, c=16: p99", "< 10 ms", ours, "p99", 10.0))

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

    # 3. 100-row requests at concurrency 16: >= 1.5x the fastest peer configuration's rows/s.
    for model in ("lr", "rf"):
        key = (model, 100, 16)
        best = _fastest(summaries, key, _is_peer)
        name = f"{model.upper()}, 100 rows, c=16: rows/s vs fastest peer"
        checks.append(_ratio_check(name, "≥ 1.5x", _ours(summaries, *key), best, 1.5, rows=True))

    # 4. Concurrency 1: p50 < 0.5 ms for the one-row LR.
    checks.append(_latency_check("LR, 1 row, c=1: p50", "< 0.5 ms", _ours(summaries, "lr", 1, 1), "p50", 0.5))

    # 5. gRPC at least as fast as HTTP per-column, one row at concurrency 16.
    for model in ("lr", "rf"):
        key = (model, 1, 16)
        grpc, http = lookup(summaries, GRPC, key), _ours(summaries, *key)
        name = f"{model.upper()}, 1 row, c=16: gRPC vs HTTP per-column"
        checks.append(_ratio_check(name, "≥ 1x", grpc, http, 1.0) if grpc else _missing(name, "≥ 1x", "gRPC"))

    # 6. The mixed-type pipeline, one row at concurrency 16: >= 3x MLServer in-process.
    key = ("mixed", 1, 16)
    theirs = lookup(summaries, MLSERVER_INPROC, key)
    checks.append(
        _ratio_check("mixed, 1 row, c=16: req/s vs MLServer in-process", "≥ 3x", _ours(summaries, *key), theirs, 3.0)
    )

    # 7. Every HTTP request form at >= 85% of the [n, 20] matrix form, LR, 1 and 100 rows, concurrency 16.
    for server, title in HTTP_FORMS.items():
        checks.append(_form_check(summaries, server, title))
    return checks


def _latency_check(name: str, target: str, ours: Summary | None, which: str, limit_ms: float) -> Check:
    if ours is None:
        return _missing(name, target, "Shipyard")
    value = ours.p99_ms if which == "p99" else ours.p50_ms
    return Check(name, target, f"{value:.3f} ms", value, value < limit_ms and not ours.errors)


def _form_check(summaries: list[Summary], server: str, title: str) -> Check:
    """The lower of the form's req/s over the matrix form's at 1 and at 100 rows (LR, concurrency 16)."""
    name, target = f"LR, c=16: {title} vs the [n, 20] matrix form", f"≥ {FORM_SHARE:.2f}x at 1 and 100 rows"
    parts, values, failed = [], [], False
    for rows in (1, 100):
        form, matrix = lookup(summaries, server, ("lr", rows, 16)), lookup(summaries, MATRIX, ("lr", rows, 16))
        if form is None or matrix is None or not matrix.req_per_s:
            parts.append(f"{rows} row(s) not measured")
            continue
        value = form.req_per_s / matrix.req_per_s
        values.append(value)
        failed |= bool(form.errors or matrix.errors)
        parts.append(f"{rows} row(s) {value:.2f}x ({form.req_per_s:,.0f} vs {matrix.req_per_s:,.0f} req/s)")
    if not values:
        return _missing(name, target, f"{server} or {MATRIX}")
    lowest = min(values)
    complete = len(values) == 2
    return Check(name, target, "; ".join(parts), lowest, (lowest >= FORM_SHARE and not failed) if complete else None)


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [{**asdict(check), "verdict": check.verdict} for check in checks]


def render(console: Console, checks: list[Check]) -> None:
    colour = {"PASS": "green", "FAIL": "red", "n/a": "yellow"}
    console.print("[bold]Targets[/bold] (Shipyard default configuration, same run):")
    for check in checks:
        verdict = check.verdict
        console.print(
            f"  [{colour[verdict]}]{verdict:<4}[/{colour[verdict]}] {escape(check.name)}: {escape(check.measured)} "
            f"(target {escape(check.target)})",
            highlight=False,
        )
