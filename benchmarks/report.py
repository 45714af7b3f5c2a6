"""Samples in, medians out: the JSON result file and the table on screen."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

INPROCESS = "inprocess"
INPROCESS_BATCH = "inprocess-batch"
INPROCESS_ONNX = "inprocess-onnx"
INPROCESS_KEYS = (INPROCESS, INPROCESS_BATCH, INPROCESS_ONNX)
INPROCESS_BATCH_ROWS = 32  # rows per predict call in the batched in-process configuration
BASELINE = "shipyard"  # Shipyard's default configuration: what the ratio column divides by

CAPTION = (
    "rows = rows per request; conc = open connections; in-process: no server, conc —; "
    f"its batched form predicts {INPROCESS_BATCH_ROWS} rows per call (req/s = rows/s, latency per call); "
    "its ONNX form runs the model's skl2onnx export in onnxruntime. "
    "Shipyard · ...: other request forms sent to the default configuration's server. "
    "† latency from hey (wrk misreports it for this server at low concurrency). "
    "CPU in % of one core (200% = both); CPU ms/req: the server's CPU per request (for in-process, per call), "
    "which other work on the machine disturbs less than req/s."
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
    latency_source: str | None = None  # "hey" when p50/p99 come from the cross-check, not the load generator
    loadgen_latency_ms: dict[str, float] | None = None  # the load generator's own p50/p99 when replaced

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
    latency_source: str | None = None

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
                latency_source=group[0].latency_source,
            )
        )
    return summaries


def lookup(summaries: list[Summary], server: str, key: tuple[str, int, int | None]) -> Summary | None:
    return next((s for s in summaries if s.server == server and s.key == key), None)


def write_json(
    path: Path, *, meta: dict[str, Any], samples: list[Sample], summaries: list[Summary], targets: list[dict[str, Any]]
) -> None:
    document = {
        **meta,
        "targets": targets,
        "summaries": [asdict(summary) for summary in summaries],
        "samples": [{**asdict(sample), "req_per_s": sample.req_per_s} for sample in samples],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(summaries: list[Summary], row: Summary) -> str:
    """Shipyard's (default) req/s over this row's at the same point; for in-process, Shipyard's best concurrency."""
    if row.server == BASELINE or not row.req_per_s:
        return ""
    candidates = [s for s in summaries if s.server == BASELINE and s.model == row.model and s.rows == row.rows]
    if row.concurrency is not None:
        candidates = [s for s in candidates if s.concurrency == row.concurrency]
    if not candidates:
        return ""
    best = max(candidates, key=lambda s: s.req_per_s)
    suffix = f" (c={best.concurrency})" if row.concurrency is None else ""
    return f"{best.req_per_s / row.req_per_s:,.2f}x{suffix}"


def cpu_per_request(row: Summary) -> str:
    """The server's CPU milliseconds per request: steadier than req/s on a machine shared with other work."""
    if row.server_cpu_pct is None or not row.req_per_s:
        return "—"
    return f"{10 * row.server_cpu_pct / row.req_per_s:.2f}"


COLUMNS = (
    "rows",
    "conc",
    "config",
    "req/s",
    "rows/s",
    "p50 ms",
    "p99 ms",
    "srv CPU",
    "CPU ms/req",
    "gen CPU",
    "errors",
    "Shipyard ÷ this",
)


def table_rows(summaries: list[Summary], model: str, order: list[str]) -> list[list[list[str]]]:
    """One model's rows as text cells, grouped by (rows per request, concurrency), configurations in `order`."""
    rank = {name: index for index, name in enumerate(order)}
    ordered = sorted(
        (s for s in summaries if s.model == model),
        key=lambda s: (s.rows, s.concurrency or 0, rank.get(s.server, 99)),
    )
    groups: dict[tuple[int, int | None], list[list[str]]] = {}
    for row in ordered:
        dagger = "†" if row.latency_source == "hey" else ""
        groups.setdefault((row.rows, row.concurrency), []).append(
            [
                str(row.rows),
                "—" if row.concurrency is None else str(row.concurrency),
                row.server,
                fmt(row.req_per_s),
                fmt(row.rows_per_s),
                fmt(row.p50_ms, 2) + dagger,
                fmt(row.p99_ms, 2) + dagger,
                "—" if row.server_cpu_pct is None else f"{row.server_cpu_pct:.0f}%",
                cpu_per_request(row),
                "—" if row.loadgen_cpu_pct is None else f"{row.loadgen_cpu_pct:.0f}%",
                "—" if row.concurrency is None else (f"{row.errors} ⚠" if row.errors else "0"),
                ratio(summaries, row),
            ]
        )
    return list(groups.values())


def render(console: Console, summaries: list[Summary], titles: dict[str, str], server_titles: dict[str, str]) -> None:
    """One table per model; `server_titles` (configuration key -> label with its settings) gives the order."""
    order = list(server_titles)
    for model, title in titles.items():
        groups = table_rows(summaries, model, order)
        if not groups:
            continue
        table = Table(title=f"{title}: medians of the repeats", title_justify="left", caption=CAPTION)
        for header in COLUMNS:
            table.add_column(header, justify="left" if header == "config" else "right")
        for index, group in enumerate(groups):
            if index:
                table.add_section()
            for cells in group:
                server = cells[2]
                cells = [*cells[:2], escape(server_titles.get(server, server)), *cells[3:]]
                if cells[10].endswith("⚠"):
                    cells[10] = f"[red]{cells[10]}[/red]"
                table.add_row(*cells, style="bold" if server == BASELINE else None)
        console.print(table)
