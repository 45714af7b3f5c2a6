"""The cost of the prediction log on serving throughput (issue 8): the `predlog` section of `make bench`.

One model, `lr-df` (the benchmark LogisticRegression trained on a DataFrame of columns x0..x19,
as users train it), served by `shipyard serve lr-df` in three configurations, each its own
server and SHIPYARD_HOME with the `shipyard` configuration's settings (its defaults, an API key
on every request):

- `off`: `SHIPYARD_LOG_MODE=off`, no prediction log: the baseline;
- `batch`: the default, group commit with fsync every `log_flush_ms` (20 ms);
- `sync`: a response only once its record is fsynced.

All three hold compaction and the monitor off (once a minute, off the request path; measured in
their own sections), so that the figures are the write path's cost.

Requests are built from the V2 metadata the server advertises (as the shadows section does):
one `[1]` tensor per column (what the SDK sends for a DataFrame) and the `[1, 20]` matrix input.
One-row requests at concurrency 16, configurations alternated point by point and repeated,
medians reported, with the ratio of each configuration's req/s to `off`'s in the same run. How
many records were written (and dropped) comes from each server's `/metrics`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import environment
import loadgen
import pandas as pd
from models import COLUMNS, make_data, train
from peers.base import Endpoint
from peers.shipyard import Shipyard
from processes import HOST, SetupError, free_port, http_status
from rich.console import Console
from rich.table import Table
from shadows import FORM_TITLES, bodies, quiet
from sklearn.base import clone

SECTION = "predlog"
MODEL = "lr-df"
CONCURRENCY = 16
MODES = ("off", "batch", "sync")
BASELINE = "off"
QUIET_BACKGROUND = {"SHIPYARD_LOG_COMPACT_SECONDS": "3600", "SHIPYARD_MONITOR_INTERVAL_SECONDS": "3600"}
RECORDS = re.compile(r'^shipyard_predlog_records_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


class LogServer(Shipyard):
    """`shipyard serve lr-df` with one log mode."""

    def __init__(self, mode: str, workdir: Path, workers: int | None) -> None:
        self.mode = mode
        self.key = f"predlog-{mode}"
        self.title = f"shipyard serve {MODEL}: SHIPYARD_LOG_MODE={mode}"
        # Compaction into Parquet and the monitor's figures run once a minute off the request
        # path, on other threads; held off here so that the figures are the write path's own.
        self.env_settings = {"SHIPYARD_LOG_MODE": mode, **QUIET_BACKGROUND}
        super().__init__(workdir / mode, workers)
        self.viewer_token: str | None = None
        self.base_url = ""
        self.metadata: dict[str, Any] = {}

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    def setup_model(self, frame: pd.DataFrame, y: Any, estimator: Any) -> None:
        import shipyard
        from shipyard.bootstrap import open_services
        from shipyard.config import Settings
        from shipyard.governance.keys import make_grants

        self.workdir.mkdir(parents=True, exist_ok=True)
        with quiet("shipyard", "alembic"):
            shipyard.register_model(MODEL, estimator, sample=frame.head(5), training_data=(frame, y), home=self.home)
            services = open_services(Settings.load(overrides={"home": str(self.home)}))
            try:
                _, self.token = services.keys.create("bench", make_grants(["predictor"]), created_by="user:bench")
                _, self.viewer_token = services.keys.create(
                    "bench-metrics", make_grants(["viewer"]), created_by="user:bench"
                )
            finally:
                services.close()

    def start_model(self) -> None:
        port = free_port()
        argv = [str(self.cli), "serve", MODEL, "--host", HOST, "--port", str(port)]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        process = self._launch(self.key, argv, self.env(), "/v2/health/ready", port)
        self.base_url = f"http://{HOST}:{port}"
        self._endpoints[MODEL] = Endpoint(f"{self.base_url}/v2/models/{MODEL}/infer", process, self.headers)
        status, body = http_status(f"{self.base_url}/v2/models/{MODEL}", headers=self.headers, timeout=10)
        if status != 200:
            raise SetupError(f"{self.title}: metadata answered {status}: {body[:200]!r}")
        import json

        self.metadata = json.loads(body)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def endpoint(self) -> Endpoint:
        return self._endpoints[MODEL]

    def records(self) -> dict[str, int]:
        """Prediction-log records by outcome, from /metrics (none when the log is off)."""
        status, body = http_status(
            f"{self.base_url}/metrics", headers={"Authorization": f"Bearer {self.viewer_token}"}, timeout=10
        )
        if status != 200:
            raise SetupError(f"{self.title}: /metrics answered {status}")
        return {m.group(1): round(float(m.group(2))) for m in RECORDS.finditer(body.decode())}

    def settle(self) -> dict[str, int]:
        """The counts once the writer has caught up: unchanged over two reads 0.2 s apart."""
        previous = self.records()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            current = self.records()
            if current == previous:
                return current
            previous = current
        return previous


@dataclass
class LogSample:
    mode: str
    form: str
    repeat: int
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float
    written: int
    dropped: int

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def measure(
    gen: loadgen.LoadGenerator, server: LogServer, body: bytes, *, form: str, repeat: int, duration: float
) -> LogSample:
    endpoint = server.endpoint
    before = server.settle()
    cpu_before = endpoint.process.cpu_seconds()
    result = gen.run(endpoint.url, body, connections=CONCURRENCY, duration_s=duration, headers=endpoint.headers)
    server_cpu = endpoint.process.cpu_seconds() - cpu_before
    after = server.settle()
    return LogSample(
        mode=server.mode,
        form=form,
        repeat=repeat,
        requests=result.requests,
        duration_s=result.duration_s,
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        errors=sum(result.errors.values()),
        server_cpu_pct=100 * server_cpu / result.duration_s,
        written=after.get("written", 0) - before.get("written", 0),
        dropped=after.get("dropped", 0) - before.get("dropped", 0),
    )


def summarize(samples: list[LogSample]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[LogSample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.form, sample.mode)].append(sample)
    rows = []
    for (form, mode), group in groups.items():
        paired = [
            s.req_per_s / base.req_per_s
            for s in group
            for base in samples
            if base.mode == BASELINE and base.form == form and base.repeat == s.repeat and base.req_per_s
        ]
        rows.append(
            {
                "form": form,
                "mode": mode,
                "repeats": len(group),
                "req_per_s": statistics.median(s.req_per_s for s in group),
                "p50_ms": statistics.median(s.p50_ms for s in group),
                "p99_ms": statistics.median(s.p99_ms for s in group),
                "server_cpu_pct": statistics.median(s.server_cpu_pct for s in group),
                "errors": sum(s.errors for s in group),
                "requests": sum(s.requests for s in group),
                "written": sum(s.written for s in group),
                "dropped": sum(s.dropped for s in group),
                "paired_ratio": statistics.median(paired) if paired else None,
                # % of a core / req/s -> CPU ms per request: less disturbed by a busy machine than req/s.
                "cpu_ms_per_request": statistics.median(
                    10 * s.server_cpu_pct / s.req_per_s for s in group if s.req_per_s
                )
                if any(s.req_per_s for s in group)
                else None,
            }
        )
    for row in rows:
        base = next((r for r in rows if r["form"] == row["form"] and r["mode"] == BASELINE), None)
        row["ratio"] = row["req_per_s"] / base["req_per_s"] if base and base["req_per_s"] else None
        row["cpu_ratio"] = (
            row["cpu_ms_per_request"] / base["cpu_ms_per_request"]
            if base and base.get("cpu_ms_per_request") and row.get("cpu_ms_per_request")
            else None
        )
    return rows


def unavailable_reason() -> str | None:
    with tempfile.TemporaryDirectory(prefix="bench-predlog-") as scratch:
        return LogServer(BASELINE, Path(scratch), None).unavailable_reason()


def run(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack, console: Console) -> dict[str, Any]:
    forms = list(args.predlog_forms)
    X, y = make_data()
    frame = pd.DataFrame(X, columns=COLUMNS)
    with console.status("training the LogisticRegression on a DataFrame"):
        estimator = clone(train(["lr"], X, y)[0].estimator).fit(frame, y)
    gen = loadgen.choose(args.loadgen, args.timeout)
    servers = []
    for mode in MODES:
        server = LogServer(mode, workdir / SECTION, args.workers)
        with console.status(f"setting up {server.title}"):
            stack.callback(server.stop)
            server.setup_model(frame, y, estimator)
            server.start_model()
        console.print(f"{server.title} is up", highlight=False)
        servers.append(server)
    forms_here = bodies(servers[0].metadata, frame)
    for server in servers:
        for form in forms:
            status, body = http_status(server.endpoint.url, body=forms_here[form], headers=server.headers, timeout=30)
            if status != 200:
                raise SetupError(f"{server.title} answered {status} to the {form} form: {body[:200]!r}")
    meta: dict[str, Any] = {
        "model": MODEL,
        "concurrency": CONCURRENCY,
        "forms": {form: FORM_TITLES[form] for form in forms},
        "load_generator": {"name": gen.name, "version": gen.version()},
        "machine": environment.machine(),
        "run": {"duration_s": args.duration, "repeats": args.repeats, "warmup_s": args.warmup, "workers": args.workers},
        "configurations": {s.mode: {"title": s.title, "settings": s.settings} for s in servers},
    }
    samples: list[LogSample] = []
    for form in forms:
        body = forms_here[form]
        for server in servers:
            if args.warmup > 0:
                measure(gen, server, body, form=form, repeat=-1, duration=args.warmup)
        for repeat in range(args.repeats):
            shift = repeat % len(servers)
            for server in servers[shift:] + servers[:shift]:
                sample = measure(gen, server, body, form=form, repeat=repeat, duration=args.duration)
                samples.append(sample)
                console.print(
                    f"  {sample.mode:<6} {sample.form:<8} #{repeat + 1}: {sample.req_per_s:>9,.0f} req/s  "
                    f"p50 {sample.p50_ms:.2f} ms  p99 {sample.p99_ms:.2f} ms  written {sample.written:,}"
                    + (f"  [red]{sample.errors} errors[/red]" if sample.errors else ""),
                    highlight=False,
                )
    meta["machine"]["loadavg_at_end"] = os.getloadavg()
    return {
        **meta,
        "summaries": summarize(samples),
        "samples": [asdict(s) | {"req_per_s": s.req_per_s} for s in samples],
    }


HEADERS = (
    "mode",
    "req/s",
    "p50 ms",
    "p99 ms",
    "÷ off",
    "paired",
    "srv CPU",
    "CPU ms/req",
    "CPU ÷ off",
    "records written",
    "dropped",
    "errors",
)
CAPTION = (
    f"`shipyard serve {MODEL}`, one row per request, {CONCURRENCY} connections; medians of the repeats. "
    "÷ off: median req/s over the log-off configuration's; paired: the median over the repeats of each run's "
    "req/s over off's in the same round. CPU ms/req: the server's CPU (all threads, the log writer's included) per "
    "request; CPU ÷ off: its ratio to off's, which a machine shared with other work disturbs less than req/s. "
    "Records written and dropped: from /metrics. Every configuration runs with compaction and the monitor held off "
    "(SHIPYARD_LOG_COMPACT_SECONDS and SHIPYARD_MONITOR_INTERVAL_SECONDS = 3600): the write path's cost alone. "
    "Goal: batch ≥ 0.90 of off's req/s."
)


def _cells(row: dict[str, Any]) -> list[str]:
    logged = row["mode"] != BASELINE
    return [
        row["mode"],
        f"{row['req_per_s']:,.0f}",
        f"{row['p50_ms']:.2f}",
        f"{row['p99_ms']:.2f}",
        "—" if row["ratio"] is None else f"{row['ratio']:.2f}",
        "—" if row["paired_ratio"] is None else f"{row['paired_ratio']:.2f}",
        f"{row['server_cpu_pct']:.0f}%",
        "—" if row.get("cpu_ms_per_request") is None else f"{row['cpu_ms_per_request']:.3f}",
        "—" if row.get("cpu_ratio") is None else f"{row['cpu_ratio']:.2f}",
        f"{row['written']:,}" if logged else "—",
        f"{row['dropped']:,}" if logged else "—",
        str(row["errors"]),
    ]


def render(console: Console, result: dict[str, Any]) -> None:
    for form, title in result["forms"].items():
        table = Table(title=f"Prediction-log cost, {form} form: {title}", title_justify="left", caption=CAPTION)
        for header in HEADERS:
            table.add_column(header, justify="left" if header == "mode" else "right")
        for row in (r for r in result["summaries"] if r["form"] == form):
            table.add_row(*_cells(row), style="bold" if row["mode"] == BASELINE else None)
        console.print(table)


def markdown(result: dict[str, Any]) -> str:
    machine, run_, generator = result["machine"], result["run"], result["load_generator"]
    lines = [
        "## Prediction-log cost",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; load generator {generator['version']}, "
        f"{CONCURRENCY} connections, 127.0.0.1",
        f"- {run_['duration_s']:g} s per point after a {run_['warmup_s']:g} s warm-up, {run_['repeats']} repeat(s); "
        "medians shown",
        "",
    ]
    for form, title in result["forms"].items():
        lines += [f"{form.capitalize()} form: {title}.", "", "| " + " | ".join(HEADERS) + " |"]
        lines.append("| " + " | ".join("---" for _ in HEADERS) + " |")
        for row in (r for r in result["summaries"] if r["form"] == form):
            lines.append("| " + " | ".join(_cells(row)) + " |")
        lines.append("")
    lines += [CAPTION, ""]
    return "\n".join(lines)
