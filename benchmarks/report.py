"""Samples in, medians out: the JSON result file and the table on screen."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

INPROCESS = "inprocess"
HEADLINE = {"model": "lr", "rows": 1, "concurrency": 16, "server": "shipyard", "against": "mlflow", "target": 2.0}


CAPTION = (
    "rows = rows per request; conc = open connections; in-process: one predict call per request, conc —. "
    "CPU in % of one core (200% = both)."
)


@dataclass(frozen=True)
class Sample:
    """One measured repeat of one point. In-process samples have concurrency None and count calls as requests."""

    server: str
    model: str
    rows: int
    concurrency: int | None
    repeat: int
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu_pct: float | None  # of one core; 200 = both cores busy
    loadgen_cpu_pct: float | None

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True)
class Summary:
    """The medians over a point's repeats; `errors` adds them up."""

    server: str
    model: str
    rows: int
    concurrency: int | None
    repeats: int
    req_per_s: float
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float | None
    loadgen_cpu_pct: float | None

    @property
    def key(self) -> tuple[str, int, int | None]:
        return (self.model, self.rows, self.concurrency)


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def summarize(samples: list[Sample]) -> list[Summary]:
    groups: dict[tuple[str, str, int, int | None], list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.server, sample.model, sample.rows, sample.concurrency)].append(sample)
    summaries = []
    for (server, model, rows, concurrency), group in groups.items():
        req_per_s = statistics.median(sample.req_per_s for sample in group)
        summaries.append(
            Summary(
                server=server,
                model=model,
                rows=rows,
                concurrency=concurrency,
                repeats=len(group),
                req_per_s=req_per_s,
                rows_per_s=req_per_s * rows,
                p50_ms=statistics.median(sample.p50_ms for sample in group),
                p99_ms=statistics.median(sample.p99_ms for sample in group),
                errors=sum(sum(sample.errors.values()) for sample in group),
                server_cpu_pct=_median([sample.server_cpu_pct for sample in group]),
                loadgen_cpu_pct=_median([sample.loadgen_cpu_pct for sample in group]),
            )
        )
    return summaries


def _lookup(summaries: list[Summary], server: str, key: tuple[str, int, int | None]) -> Summary | None:
    return next((s for s in summaries if s.server == server and s.key == key), None)


def headline(summaries: list[Summary]) -> dict[str, Any] | None:
    """Shipyard's single-row req/s over MLflow's at concurrency 16 for the LogisticRegression, against its target."""
    key = (HEADLINE["model"], HEADLINE["rows"], HEADLINE["concurrency"])
    ours, theirs = _lookup(summaries, HEADLINE["server"], key), _lookup(summaries, HEADLINE["against"], key)
    if ours is None or theirs is None or not theirs.req_per_s:
        return None
    ratio = ours.req_per_s / theirs.req_per_s
    return {**HEADLINE, "ratio": ratio, "met": ratio >= HEADLINE["target"] and not ours.errors}


def write_json(path: Path, *, meta: dict[str, Any], samples: list[Sample], summaries: list[Summary]) -> None:
    document = {
        **meta,
        "headline": headline(summaries),
        "summaries": [asdict(summary) for summary in summaries],
        "samples": [{**asdict(sample), "req_per_s": sample.req_per_s} for sample in samples],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(summaries: list[Summary], row: Summary) -> str:
    """Shipyard's req/s over this row's, at the same point; for in-process, Shipyard's best concurrency."""
    if row.server == "shipyard" or not row.req_per_s:
        return ""
    candidates = [s for s in summaries if s.server == "shipyard" and s.model == row.model and s.rows == row.rows]
    if row.concurrency is not None:
        candidates = [s for s in candidates if s.concurrency == row.concurrency]
    if not candidates:
        return ""
    best = max(candidates, key=lambda s: s.req_per_s)
    suffix = f" (c={best.concurrency})" if row.concurrency is None else ""
    return f"{best.req_per_s / row.req_per_s:,.2f}x{suffix}"


def render(console: Console, summaries: list[Summary], titles: dict[str, str], server_titles: dict[str, str]) -> None:
    order = {name: index for index, name in enumerate([INPROCESS, "mlflow", "shipyard"])}
    for model, title in titles.items():
        rows_here = sorted(
            (s for s in summaries if s.model == model),
            key=lambda s: (s.rows, s.concurrency or 0, order.get(s.server, 99)),
        )
        if not rows_here:
            continue
        table = Table(title=f"{title}: medians of the repeats", title_justify="left", caption=CAPTION)
        for header in ("rows", "conc", "server", "req/s", "rows/s", "p50 ms", "p99 ms", "srv CPU", "gen CPU", "errors"):
            table.add_column(header, justify="left" if header == "server" else "right")
        table.add_column("Shipyard ÷ this", justify="right")
        previous_group = None
        for row in rows_here:
            group = (row.rows, row.concurrency)
            if previous_group is not None and group != previous_group:
                table.add_section()
            previous_group = group
            table.add_row(
                str(row.rows),
                "—" if row.concurrency is None else str(row.concurrency),
                server_titles.get(row.server, row.server),
                _fmt(row.req_per_s),
                _fmt(row.rows_per_s),
                _fmt(row.p50_ms, 2),
                _fmt(row.p99_ms, 2),
                "—" if row.server_cpu_pct is None else f"{row.server_cpu_pct:.0f}%",
                "—" if row.loadgen_cpu_pct is None else f"{row.loadgen_cpu_pct:.0f}%",
                "—" if row.concurrency is None else (f"[red]{row.errors} ⚠[/red]" if row.errors else "0"),
                _ratio(summaries, row),
                style="bold" if row.server == "shipyard" else None,
            )
        console.print(table)
    found = headline(summaries)
    if found is None:
        console.print("Headline (Shipyard ≥ 2x MLflow, LR, 1 row, conc 16): not measured in this run.")
    else:
        verdict = "[green]met[/green]" if found["met"] else "[red]not met[/red]"
        console.print(
            f"Headline: Shipyard ÷ MLflow single-row req/s at concurrency 16 (LR) = {found['ratio']:.2f}x "
            f"(target ≥ {found['target']:.0f}x): {verdict}"
        )
