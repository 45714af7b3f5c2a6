"""The cost of shadowing on the primary's throughput (issue 7): the `shadows` section of `make bench`.

A deployment's shadows get a copy of every sampled request off the request path (a bounded
queue per worker, `shadow_threads` threads of their own, copies dropped and counted when the
queue is full). This section serves one deployment, `fraud`, in four configurations, each its
own `shipyard serve fraud` with its own SHIPYARD_HOME (same server settings as the `shipyard`
configuration of the comparison: its defaults, an API key on every request):

- `primary`: the primary only (the benchmark LogisticRegression): the baseline;
- `shadow-lr`: the same plus a shadow of the same model, sample 1.0;
- `shadow-rf`: the same plus a shadow that is a slower model (the benchmark RandomForest), sample 1.0;
- `canary-mirror`: the primary plus a 10% canary (the LR again) under analysis with mirroring on
  (each canary request is also computed on the primary, off the request path).

The models are trained on a DataFrame (columns x0..x19) as users train them, registered and the
spec applied with the public API (`shipyard.register_model`, `shipyard.rollout.service.apply_spec`),
and the requests are built from the V2 metadata the server advertises for `fraud`: one
`[1]` tensor per column (what the SDK sends for a DataFrame), and the single `[1, 20]` matrix
input its `parameters.matrix_input` offers. One-row requests at concurrency 16, configurations
alternated point by point and repeated, medians reported. How many copies were computed or
dropped comes from `/metrics` (`shipyard_shadow_requests_total{result=...}`, read with a viewer
key) before and after each measured run, after the shadow queues have drained.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import environment
import loadgen
import numpy as np
import pandas as pd
from models import COLUMNS, BenchModel, make_data, train
from peers.base import Endpoint
from peers.shipyard import Shipyard
from processes import HOST, SetupError, free_port, http_status
from rich.console import Console
from rich.table import Table
from sklearn.base import clone

SECTION = "shadows"
DEPLOYMENT = "fraud"
LR_MODEL = "fraud-lr"
RF_MODEL = "fraud-rf"
ROWS = 1
CONCURRENCY = 16
FORMS = ("columns", "matrix")
FORM_TITLES = {
    "columns": "one [1] FP64 tensor per column x0..x19 (the metadata's inputs; what the SDK sends for a DataFrame)",
    "matrix": "one [1, 20] FP64 tensor `input-0` (the metadata's parameters.matrix_input)",
}
DRAIN_DEADLINE_S = 30.0
SHADOW_METRIC = "shipyard_shadow_requests_total"
SHADOW_SECONDS = "shipyard_shadow_latency_seconds_sum"

# Progressive delivery must not move the canary while it is measured: a bake far longer than the
# run and gates that cannot fail on a copy of the primary keep it at 10% (checked after the run).
_ANALYSIS = """analysis:
  steps: [10, 100]
  bake_seconds: 86400
  min_requests: 1000000
  mirror: 1.0
  gates: {max_error_rate: 1.0, max_p99_ratio: 1000, min_agreement: 0.0}
"""


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    variants: dict[str, str]  # variant name -> its YAML flow mapping
    analysis: str = ""

    def spec(self) -> str:
        lines = [f"deployment: {DEPLOYMENT}", f"description: benchmark of shadow cost ({self.key})", "variants:"]
        lines += [f"  {name}: {body}" for name, body in self.variants.items()]
        return "\n".join(lines) + "\n" + self.analysis


_PRIMARY = {"stable": f"{{model: {LR_MODEL}/1, role: primary}}"}
CONFIGS = (
    Config("primary", "primary only (LR): baseline", _PRIMARY),
    Config(
        "shadow-lr",
        "+ shadow: the same LR, sample 1.0",
        {**_PRIMARY, "shadowed": f"{{model: {LR_MODEL}/1, role: shadow, sample: 1.0}}"},
    ),
    Config(
        "shadow-rf",
        "+ shadow: RandomForest, sample 1.0",
        {**_PRIMARY, "shadowed": f"{{model: {RF_MODEL}/1, role: shadow, sample: 1.0}}"},
    ),
    Config(
        "canary-mirror",
        "+ 10% canary (LR), analysis mirror 1.0",
        {**_PRIMARY, "candidate": f"{{model: {LR_MODEL}/1, role: canary, weight: 10}}"},
        _ANALYSIS,
    ),
)
BASELINE = CONFIGS[0].key


class DeploymentServer(Shipyard):
    """`shipyard serve fraud` for one configuration: the Shipyard peer's settings, env and CLI."""

    def __init__(self, config: Config, workdir: Path, workers: int | None) -> None:
        self.config = config
        self.key = f"shadows-{config.key}"
        self.title = f"shipyard serve {DEPLOYMENT}: {config.title}"
        super().__init__(workdir, workers)
        self.viewer_token: str | None = None
        self.base_url = ""
        self.metadata: dict[str, Any] = {}

    @property
    def home(self) -> Path:
        return self.workdir / "home"

    @property
    def settings(self) -> dict[str, Any]:
        return {**super().settings, "spec": self.config.spec()}

    def setup_deployment(self, frame: pd.DataFrame, y: np.ndarray, fitted: dict[str, Any]) -> None:
        """Register both models from the DataFrame, apply the spec, make a predictor and a viewer key."""
        with quiet("shipyard", "alembic"):
            self._register_and_apply(frame, y, fitted)

    def _register_and_apply(self, frame: pd.DataFrame, y: np.ndarray, fitted: dict[str, Any]) -> None:
        import shipyard
        from shipyard.bootstrap import open_services
        from shipyard.config import Settings
        from shipyard.governance.keys import make_grants
        from shipyard.rollout.service import apply_spec

        for name, estimator in fitted.items():
            shipyard.register_model(name, estimator, sample=frame.head(5), training_data=(frame, y), home=self.home)
        services = open_services(Settings.load(overrides={"home": str(self.home)}))
        try:
            apply_spec(
                services.store,
                self.config.spec(),
                actor="user:bench",
                reason="benchmark",
                source_name=f"{self.config.key}.yaml",
            )
            _, self.token = services.keys.create("bench", make_grants(["predictor"]), created_by="user:bench")
            _, self.viewer_token = services.keys.create(
                "bench-metrics", make_grants(["viewer"]), created_by="user:bench"
            )
        finally:
            services.close()

    def start_deployment(self) -> None:
        if self.token is None:
            raise SetupError(f"{self.title}: no API key (setup did not run)")
        port = free_port()
        argv = [str(self.cli), "serve", DEPLOYMENT, "--host", HOST, "--port", str(port)]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        process = self._launch(self.key, argv, self.env(), "/v2/health/ready", port)
        self.base_url = f"http://{HOST}:{port}"
        self._endpoints[DEPLOYMENT] = Endpoint(f"{self.base_url}/v2/models/{DEPLOYMENT}/infer", process, self.headers)
        status, body = http_status(f"{self.base_url}/v2/models/{DEPLOYMENT}", headers=self.headers, timeout=10)
        if status != 200:
            raise SetupError(f"{self.title}: metadata answered {status}: {body[:200]!r}")
        self.metadata = json.loads(body)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def deployment_endpoint(self) -> Endpoint:
        return self._endpoints[DEPLOYMENT]

    def shadow_counts(self) -> Snapshot:
        """From /metrics (summed over the workers by the server): copies by variant/kind/result, call seconds."""
        status, body = http_status(
            f"{self.base_url}/metrics", headers={"Authorization": f"Bearer {self.viewer_token}"}, timeout=10
        )
        if status != 200:
            raise SetupError(f"{self.title}: /metrics answered {status}: {body[:200]!r}")
        return parse_shadow_counts(body.decode())

    def settle(self) -> Snapshot:
        """The shadow counts once the queues have drained: unchanged over two reads 0.3 s apart."""
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        previous = self.shadow_counts()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            current = self.shadow_counts()
            if current == previous:
                return current
            previous = current
        return previous

    def deployment_state(self) -> dict[str, Any]:
        status, body = http_status(f"{self.base_url}/api/deployments/{DEPLOYMENT}", headers=self.headers, timeout=10)
        return json.loads(body) if status == 200 else {"status": status}


@contextlib.contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Registration logs every artifact and migration at INFO: keep the bench's screen to its progress."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]  # variant/kind/result -> copies
    seconds: dict[str, float]  # variant/kind -> seconds spent in shadow (or mirror) model calls


def _labels(line: str, metric: str) -> tuple[dict[str, str], float] | None:
    if not line.startswith(metric + "{"):
        return None
    labels_text, _, value = line[len(metric) + 1 :].rpartition("} ")
    labels = dict(part.split("=", 1) for part in labels_text.split(","))
    return {name: raw.strip('"') for name, raw in labels.items()}, float(value)


def parse_shadow_counts(text: str) -> Snapshot:
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for line in text.splitlines():
        if parsed := _labels(line, SHADOW_METRIC):
            labels, value = parsed
            key = f"{labels['variant']}/{labels['kind']}/{labels['result']}"
            counts[key] = counts.get(key, 0) + round(value)
        elif parsed := _labels(line, SHADOW_SECONDS):
            labels, value = parsed
            key = f"{labels['variant']}/{labels['kind']}"
            seconds[key] = seconds.get(key, 0.0) + value
    return Snapshot(counts, seconds)


def bodies(metadata: dict[str, Any], frame: pd.DataFrame) -> dict[str, bytes]:
    """The one-row request in each V2 form the metadata advertises, from the DataFrame's first row."""
    row = frame.iloc[0]
    inputs = metadata.get("inputs") or []
    names = [spec["name"] for spec in inputs]
    if names != list(frame.columns):
        raise SetupError(f"the metadata of {DEPLOYMENT} lists inputs {names[:4]}..., not the DataFrame's columns")
    columns = [
        {"name": spec["name"], "shape": [ROWS], "datatype": spec["datatype"], "data": [float(row[spec["name"]])]}
        for spec in inputs
    ]
    out = {"columns": json.dumps({"inputs": columns}).encode()}
    matrix = (metadata.get("parameters") or {}).get("matrix_input")
    if matrix:
        order = matrix["column_order"]
        tensor = {
            "name": "input-0",
            "shape": [ROWS, len(order)],
            "datatype": matrix["datatype"],
            "data": [float(row[name]) for name in order],
        }
        out["matrix"] = json.dumps({"inputs": [tensor]}).encode()
    return out


@dataclass
class ShadowSample:
    config: str
    form: str
    repeat: int
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    errors: dict[str, int]
    server_cpu_pct: float
    loadgen_cpu_pct: float
    copies: dict[str, int] = field(default_factory=dict)  # variant/kind/result -> copies during this run
    copy_seconds: float = 0.0  # time in shadow / mirror model calls during this run, all threads
    drain_s: float = 0.0

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def copies_by_result(copies: dict[str, int]) -> dict[str, int]:
    """computed (ok), dropped, failed (error or timeout), over every variant and kind."""
    out = {"computed": 0, "dropped": 0, "failed": 0}
    for key, count in copies.items():
        result = key.rsplit("/", 1)[1]
        out["computed" if result == "ok" else "dropped" if result == "dropped" else "failed"] += count
    return out


def summarize(samples: list[ShadowSample]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[ShadowSample]] = defaultdict(list)
    for sample in samples:
        groups[(sample.form, sample.config)].append(sample)
    rows = []
    for (form, config), group in groups.items():
        copies: dict[str, int] = defaultdict(int)
        copy_seconds = sum(sample.copy_seconds for sample in group)
        for sample in group:
            for key, count in sample.copies.items():
                copies[key] += count
        rows.append(
            {
                "form": form,
                "config": config,
                "repeats": len(group),
                "req_per_s": statistics.median(s.req_per_s for s in group),
                "p50_ms": statistics.median(s.p50_ms for s in group),
                "p99_ms": statistics.median(s.p99_ms for s in group),
                "server_cpu_pct": statistics.median(s.server_cpu_pct for s in group),
                "loadgen_cpu_pct": statistics.median(s.loadgen_cpu_pct for s in group),
                "errors": sum(sum(s.errors.values()) for s in group),
                "requests": sum(s.requests for s in group),
                "copies": dict(sorted(copies.items())),
                **copies_by_result(copies),
            }
        )
        paired = [
            sample.req_per_s / base.req_per_s
            for sample in group
            for base in samples
            if base.config == BASELINE and base.form == form and base.repeat == sample.repeat and base.req_per_s
        ]
        rows[-1]["paired_ratio"] = statistics.median(paired) if paired else None
        cpu_ms = [10 * s.server_cpu_pct / s.req_per_s for s in group if s.req_per_s]  # % of a core -> ms per s
        rows[-1]["server_cpu_ms_per_request"] = statistics.median(cpu_ms) if cpu_ms else None
        called = rows[-1]["computed"] + rows[-1]["failed"]
        rows[-1]["copy_call_ms"] = 1e3 * copy_seconds / called if called else None
    for row in rows:
        base = next((r for r in rows if r["form"] == row["form"] and r["config"] == BASELINE), None)
        row["ratio"] = row["req_per_s"] / base["req_per_s"] if base and base["req_per_s"] else None
    return rows


def measure(
    gen: loadgen.LoadGenerator,
    server: DeploymentServer,
    body: bytes,
    *,
    form: str,
    repeat: int,
    duration: float,
) -> ShadowSample:
    endpoint = server.deployment_endpoint
    before = server.settle()
    cpu_before = endpoint.process.cpu_seconds()
    result = gen.run(endpoint.url, body, connections=CONCURRENCY, duration_s=duration, headers=endpoint.headers)
    server_cpu = endpoint.process.cpu_seconds() - cpu_before
    t0 = time.monotonic()
    after = server.settle()
    copies = {key: after.counts.get(key, 0) - before.counts.get(key, 0) for key in after.counts}
    copy_seconds = sum(after.seconds.values()) - sum(before.seconds.values())
    return ShadowSample(
        config=server.config.key,
        form=form,
        repeat=repeat,
        requests=result.requests,
        duration_s=result.duration_s,
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        errors=result.errors,
        server_cpu_pct=100 * server_cpu / result.duration_s,
        loadgen_cpu_pct=100 * result.loadgen_cpu_s / result.duration_s,
        copies={key: count for key, count in copies.items() if count},
        copy_seconds=copy_seconds,
        drain_s=time.monotonic() - t0,
    )


def _progress(console: Console, sample: ShadowSample) -> None:
    errors = sum(sample.errors.values())
    flag = f" [red]{errors} errors[/red]" if errors else ""
    split = copies_by_result(sample.copies)
    console.print(
        f"  {sample.config:<14} {sample.form:<8} #{sample.repeat + 1}: {sample.req_per_s:>9,.0f} req/s  "
        f"p50 {sample.p50_ms:.2f} ms  p99 {sample.p99_ms:.2f} ms  copies {split['computed']:,} computed, "
        f"{split['dropped']:,} dropped{flag}",
        highlight=False,
    )


def unavailable_reason() -> str | None:
    """Why `shipyard serve` cannot run here yet (the comparison skips Shipyard for the same reason), or None."""
    with tempfile.TemporaryDirectory(prefix="bench-shadows-") as scratch:
        return DeploymentServer(CONFIGS[0], Path(scratch), None).unavailable_reason()


def run(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack, console: Console) -> dict[str, Any]:
    """Set up, serve and measure every configuration; the section's result (also for the JSON file)."""
    forms = list(args.shadow_forms)
    X, y = make_data()
    frame = pd.DataFrame(X, columns=COLUMNS)
    with console.status("training the models on a DataFrame"):
        bench: list[BenchModel] = train(["lr", "rf"], X, y)
        # The benchmark's estimators, refitted on the DataFrame: a user's model knows its columns.
        fitted = {LR_MODEL: clone(bench[0].estimator).fit(frame, y), RF_MODEL: clone(bench[1].estimator).fit(frame, y)}
    gen = loadgen.choose(args.loadgen, args.timeout)
    servers = []
    for config in CONFIGS:
        server = DeploymentServer(config, workdir / SECTION, args.workers)
        with console.status(f"setting up {server.title}"):
            stack.callback(server.stop)
            server.setup_deployment(frame, y, fitted)
            server.start_deployment()
        console.print(f"{server.title} is up", highlight=False)
        servers.append(server)
    forms_here = bodies(servers[0].metadata, frame)
    missing = [form for form in forms if form not in forms_here]
    if missing:
        raise SetupError(f"the metadata of {DEPLOYMENT} does not advertise the {', '.join(missing)} form")
    answers = {}
    for server in servers:
        for form in forms:
            status, body = http_status(
                server.deployment_endpoint.url, body=forms_here[form], headers=server.headers, timeout=30
            )
            if status != 200:
                raise SetupError(f"{server.title} answered {status} to the {form} form: {body[:200]!r}")
            answers[f"{server.config.key} {form}"] = body[:300].decode(errors="replace")
    seconds = len(forms) * len(servers) * (args.warmup + args.repeats * (args.duration + 1.0))
    console.print(
        f"about {seconds / 60:.0f} min of measuring" if seconds >= 120 else f"about {seconds:.0f} s of measuring"
    )
    meta = {
        "deployment": DEPLOYMENT,
        "rows": ROWS,
        "concurrency": CONCURRENCY,
        "forms": {form: FORM_TITLES[form] for form in forms},
        "load_generator": {"name": gen.name, "version": gen.version()},
        "machine": environment.machine(),
        "run": {"duration_s": args.duration, "repeats": args.repeats, "warmup_s": args.warmup, "workers": args.workers},
        "configurations": {s.config.key: {"title": s.config.title, "settings": s.settings} for s in servers},
        "metadata": servers[0].metadata,
        "first_answers": answers,
    }
    samples: list[ShadowSample] = []
    for form in forms:
        body = forms_here[form]
        for server in servers:
            if args.warmup > 0:
                measure(gen, server, body, form=form, repeat=-1, duration=args.warmup)
        for repeat in range(args.repeats):
            shift = repeat % len(servers)  # rotate who goes first, as the comparison does
            for server in servers[shift:] + servers[:shift]:
                sample = measure(gen, server, body, form=form, repeat=repeat, duration=args.duration)
                samples.append(sample)
                _progress(console, sample)
    meta["machine"]["loadavg_at_end"] = os.getloadavg()
    meta["deployments_after"] = {
        s.config.key: {
            k: v for k, v in s.deployment_state().items() if k in ("current_revision", "rollout_status", "status")
        }
        for s in servers
    }
    return {
        **meta,
        "summaries": summarize(samples),
        "samples": [asdict(s) | {"req_per_s": s.req_per_s} for s in samples],
    }


def _cells(row: dict[str, Any], titles: dict[str, str]) -> list[str]:
    offered = row["computed"] + row["dropped"] + row["failed"]
    share = f" ({100 * row['dropped'] / offered:.0f}%)" if offered else ""
    return [
        titles.get(row["config"], row["config"]),
        f"{row['req_per_s']:,.0f}",
        f"{row['p50_ms']:.2f}",
        f"{row['p99_ms']:.2f}",
        "—" if row["ratio"] is None else f"{row['ratio']:.2f}",
        "—" if row.get("paired_ratio") is None else f"{row['paired_ratio']:.2f}",
        f"{row['server_cpu_pct']:.0f}%",
        "—" if row.get("server_cpu_ms_per_request") is None else f"{row['server_cpu_ms_per_request']:.2f}",
        "—" if row.get("copy_call_ms") is None else f"{row['copy_call_ms']:.2f}",
        f"{row['computed']:,}" if offered else "—",
        f"{row['dropped']:,}{share}" if offered else "—",
        f"{row['errors']} ⚠" if row["errors"] else "0",
    ]


HEADERS = (
    "config",
    "req/s",
    "p50 ms",
    "p99 ms",
    "÷ baseline",
    "paired",
    "srv CPU",
    "CPU ms/req",
    "copy call ms",
    "copies computed",
    "copies dropped",
    "errors",
)
CAPTION = (
    f"`shipyard serve {DEPLOYMENT}`, one row per request, {CONCURRENCY} connections; medians of the repeats. "
    "÷ baseline: median req/s over the primary-only configuration's; paired: the median over the repeats of "
    "each run's req/s over the baseline's in the same round (robust to a machine that drifts). Copies: shadow and mirror copies summed over the "
    "measured runs, from /metrics (failed copies, if any, are in the JSON); copy call ms: the mean wall time of a shadow or "
    "mirror model call on its thread (waits for the GIL and the CPU included). CPU in % of one core (200% = both); CPU ms/req: the server's CPU "
    "(primary, copies, everything) per primary request, which a machine shared with other work disturbs less."
)


def render(console: Console, result: dict[str, Any]) -> None:
    titles = {key: value["title"] for key, value in result["configurations"].items()}
    for form, form_title in result["forms"].items():
        table = Table(
            title=f"Shadow cost, {form} form: {form_title}",
            title_justify="left",
            caption=CAPTION,
            caption_justify="left",
        )
        for header in HEADERS:
            table.add_column(header, justify="left" if header == "config" else "right")
        for row in (r for r in result["summaries"] if r["form"] == form):
            cells = _cells(row, titles)
            if row["errors"]:
                cells[-1] = f"[red]{cells[-1]}[/red]"
            table.add_row(*cells, style="bold" if row["config"] == BASELINE else None)
        console.print(table)
    moved = {k: v for k, v in result.get("deployments_after", {}).items() if v.get("current_revision") != 1}
    if moved:
        console.print(f"[yellow]a deployment changed revision during the run: {moved}[/yellow]")


def markdown(result: dict[str, Any]) -> str:
    titles = {key: value["title"] for key, value in result["configurations"].items()}
    machine, run, generator = result["machine"], result["run"], result["load_generator"]
    start = ", ".join(f"{value:.2f}" for value in machine["loadavg_at_start"])
    end = ", ".join(f"{value:.2f}" for value in machine.get("loadavg_at_end", ()))
    lines = [
        "## Shadow cost",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; memory {machine['memory_gib']} GiB",
        f"- Load average (1, 5, 15 min): {start} at the start, {end} at the end",
        f"- Load generator: {generator['version']}, one thread, {CONCURRENCY} connections, 127.0.0.1",
        f"- Commit {str(machine['git_commit'])[:12]}{' (dirty tree)' if machine['git_dirty'] else ''}, "
        f"{machine['time_utc']}",
        f"- {run['duration_s']:g} s per point after a {run['warmup_s']:g} s warm-up, {run['repeats']} repeat(s), "
        "configurations alternated point by point; medians shown",
        "",
    ]
    for form, form_title in result["forms"].items():
        lines += [f"{form.capitalize()} form: {form_title}.", ""]
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("| " + " | ".join("---" for _ in HEADERS) + " |")
        for row in (r for r in result["summaries"] if r["form"] == form):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(row, titles)) + " |")
        lines.append("")
    lines += [CAPTION, ""]
    return "\n".join(lines)
