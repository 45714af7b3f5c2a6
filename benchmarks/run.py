"""Benchmark Shipyard side by side with in-process `predict`, mlflow, BentoML and MLServer: `make bench`.

Trains the benchmark models, sets up and starts every chosen server configuration on 127.0.0.1,
then measures each point (model x rows per request x concurrency), alternating servers point by
point and repeating, reports medians, and checks the performance targets. Then, as a section of its
own, measures what a deployment's shadows cost its primary (shadows.py). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import environment
import grpcload
import inprocess
import loadgen
import markdown
import memory
import numpy as np
import pandas as pd
import report
import shadows
import targets
from latency import Hey
from models import MODEL_KEYS, BenchModel, make_data, train
from peers import FORMS, PEERS, Peer, ShipyardForm
from processes import SetupError, http_status
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

import drift
import predlog

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SERVERS = (report.INPROCESS, report.INPROCESS_BATCH, report.INPROCESS_ONNX, *PEERS)
SECTIONS = ("servers", shadows.SECTION, predlog.SECTION, drift.SECTION)  # + shadowing/log costs, drift vs Evidently
INPROCESS_TITLES = {
    report.INPROCESS: "in-process predict (1 request/call)",
    report.INPROCESS_BATCH: f"in-process predict ({report.INPROCESS_BATCH_ROWS} rows/call)",
    report.INPROCESS_ONNX: "in-process onnxruntime (skl2onnx export, 1 thread, 1 request/call)",
}

console = Console()
if not console.is_terminal:
    console.width = 150  # make bench | tee: keep the table readable
logger = logging.getLogger("benchmarks")


def _int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _choices(allowed: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        unknown = sorted(set(chosen) - set(allowed))
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
        return chosen

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        type=_choices(SECTIONS),
        default=None,
        help="comma list of sections to run: servers,shadows,predlog,drift",
    )
    parser.add_argument("--skip", type=_choices(SECTIONS), default=[], help="comma list of sections to skip")
    parser.add_argument(
        "--shadow-forms",
        type=_choices(shadows.FORMS),
        default=list(shadows.FORMS),
        help="V2 request forms for the shadows section: columns,matrix (default both)",
    )
    parser.add_argument(
        "--predlog-forms",
        type=_choices(shadows.FORMS),
        default=list(shadows.FORMS),
        help="V2 request forms for the predlog section: columns,matrix (default both)",
    )
    parser.add_argument("--servers", type=_choices(SERVERS), default=list(SERVERS), help="comma list (default: all)")
    parser.add_argument(
        "--models",
        type=_choices(MODEL_KEYS),
        default=list(MODEL_KEYS),
        help="comma list: lr,rf,rf-onnx,mixed (default: all)",
    )
    parser.add_argument("--concurrency", type=_int_list, default=[1, 16, 64], help="connections (default 1,16,64)")
    parser.add_argument(
        "--form-concurrency",
        type=_int_list,
        default=[16],
        help="connections at which Shipyard's other request forms are measured (default 16)",
    )
    parser.add_argument("--rows", type=_int_list, default=[1, 100], help="rows per request (default 1,100)")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per measured run, whole seconds for wrk (default 4)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="measured runs per point (default 2); medians are reported"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of unmeasured load per server before each model x rows block (default 1)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="defaults of 1 s x 1 repeat, 1 s warm-up: checks the harness, not a result",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes for Shipyard (but shipyard-w2), mlflow and BentoML (default: each server's own)",
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "rawload"), default="auto")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout for the load generator")
    parser.add_argument(
        "--output", type=Path, default=None, help="result JSON (default benchmarks/results/TIMESTAMP.json)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep saved models and server logs after success")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help="write the tables, targets and machine as Markdown here (default: beside the result JSON, .md)",
    )
    args = parser.parse_args(argv)
    defaults = (
        {"duration": 1.0, "repeats": 1, "warmup": 1.0} if args.quick else {"duration": 4.0, "repeats": 2, "warmup": 1.0}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.duration <= 0 or args.duration > 600 or args.repeats < 1:
        parser.error("--duration must be in (0, 600] and --repeats at least 1")
    args.sections = [section for section in (args.only or SECTIONS) if section not in args.skip]
    if not args.sections:
        parser.error("--only and --skip leave no section to run")
    return args


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every server is stopped on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def smoke_check(peer: Peer, model: BenchModel, rows: pd.DataFrame) -> str:
    """One request before measuring: a server answering 4xx fast would otherwise look very quick.

    Returns the start of the answer, kept in the result file: servers differ in what they send back.
    """
    call = peer.call(model, rows)
    if call.is_grpc:
        try:
            return grpcload.smoke(call.url.removeprefix("grpc://"), call.body, call.headers)
        except RuntimeError as exc:
            raise SetupError(f"{peer.title} answered {exc} to {len(rows)} row(s)") from exc
    status, body = http_status(call.url, body=call.body, timeout=30, headers=call.headers)
    if status != 200:
        raise SetupError(f"{peer.title} answered {status} to {len(rows)} row(s) at {call.url}: {body[:200]!r}")
    return body[:300].decode(errors="replace")


def warn_if_busy(when: str) -> float:
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > cores / 2:
        console.print(
            f"[yellow]machine busy {when} (load average {load:.1f} on {cores} cores): figures are noise[/yellow]"
        )
    return load


def start_peers(
    args: argparse.Namespace,
    models: list[BenchModel],
    data: tuple[np.ndarray, np.ndarray],
    workdir: Path,
    stack: contextlib.ExitStack,
) -> tuple[list[Peer], dict[str, str]]:
    """Set up and start each chosen server; those that cannot run here yet are skipped with the reason."""
    peers, skipped = [], {}
    for key in (server for server in PEERS if server in args.servers):  # PEERS order: display and alternation
        peer = PEERS[key](workdir, args.workers)
        if isinstance(peer, ShipyardForm):  # sends to a server started before it
            base = next((p for p in peers if p.key == peer.base_key), None)
            if base is not None:
                peer.attach(base)  # type: ignore[arg-type]
        reason = peer.unavailable_reason()
        if reason:
            console.print(f"[yellow]skipping {escape(peer.title)}: {escape(reason)}[/yellow]", highlight=False)
            skipped[key] = reason
            continue
        if not any(peer.supports(model) for model in models):
            skipped[key] = "serves none of the chosen models"
            continue
        with console.status(f"setting up {peer.title}"):
            stack.callback(peer.stop)
            peer.setup(models, *data)
            peer.start(models)
        console.print(f"{peer.title} is up", highlight=False, markup=False)
        peers.append(peer)
    return peers, skipped


def measure_server(
    gen: loadgen.LoadGenerator,
    hey: Hey | None,
    peer: Peer,
    model: BenchModel,
    rows: pd.DataFrame,
    *,
    concurrency: int,
    repeat: int,
    duration: float,
) -> report.Sample:
    endpoint = peer.endpoint(model)
    call = peer.call(model, rows)
    if call.is_grpc:
        gen = loadgen.GrpcLoad(gen.timeout_s)
    cpu_before = endpoint.process.cpu_seconds()
    result = gen.run(call.url, call.body, connections=concurrency, duration_s=duration, headers=call.headers)
    server_cpu = endpoint.process.cpu_seconds() - cpu_before
    latency = {"p50": result.latency_ms["p50"], "p99": result.latency_ms["p99"]}
    source, loadgen_latency = None, None
    if repeat >= 0 and hey is not None and peer.cross_check_latency and hey.applies(concurrency):
        checked = hey.run(call.url, call.body, connections=concurrency, headers=call.headers)
        if checked.requests and not checked.non_2xx:
            source, loadgen_latency = "hey", latency
            latency = {"p50": checked.p50_ms, "p99": checked.p99_ms}
    return report.Sample(
        server=peer.key,
        model=model.key,
        rows=len(rows),
        concurrency=concurrency,
        repeat=repeat,
        requests=result.requests,
        duration_s=result.duration_s,
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
        errors=result.errors,
        server_cpu_pct=100 * server_cpu / result.duration_s,
        loadgen_cpu_pct=100 * result.loadgen_cpu_s / result.duration_s,
        latency_source=source,
        loadgen_latency_ms=loadgen_latency,
    )


def concurrencies(args: argparse.Namespace, peer: Peer) -> list[int]:
    """The request forms are measured at --form-concurrency only (the targets' points), the rest at all."""
    return list(args.form_concurrency) if isinstance(peer, ShipyardForm) else list(args.concurrency)


def measure_all(
    args: argparse.Namespace,
    models: list[BenchModel],
    peers: list[Peer],
    gen: loadgen.LoadGenerator | None,
    hey: Hey | None,
    skipped: dict[str, str],
) -> list[report.Sample]:
    samples: list[report.Sample] = []
    exports = inprocess.OnnxExports()

    def record(sample: report.Sample) -> None:
        samples.append(sample)
        _progress(sample)

    for model in models:
        for count in args.rows:
            rows = model.rows(count)
            inprocess.measure_all(
                args.servers, model, count, exports, record, skipped, repeats=args.repeats, duration=args.duration
            )
            here = [peer for peer in peers if peer.supports(model)]
            if gen is None or not here:
                continue
            for peer in here:
                if args.warmup > 0:
                    measure_server(
                        gen,
                        None,
                        peer,
                        model,
                        rows,
                        concurrency=concurrencies(args, peer)[0],
                        repeat=-1,
                        duration=args.warmup,
                    )
            for concurrency in sorted(set(args.concurrency) | set(args.form_concurrency)):
                measured = [peer for peer in here if concurrency in concurrencies(args, peer)]
                for repeat in range(args.repeats):
                    # Rotate who goes first, so drift on a shared machine does not favour one server.
                    shift = repeat % max(1, len(measured))
                    for peer in measured[shift:] + measured[:shift]:
                        sample = measure_server(
                            gen, hey, peer, model, rows, concurrency=concurrency, repeat=repeat, duration=args.duration
                        )
                        record(sample)
    return samples


def run(args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack) -> tuple[dict, list[report.Sample]]:
    X, y = make_data()
    with console.status("training models"):
        models = train(args.models, X, y)
    wants_servers = any(server in PEERS for server in args.servers)
    gen = loadgen.choose(args.loadgen, args.timeout) if wants_servers else None
    peers, skipped = start_peers(args, models, (X, y), workdir, stack)
    hey = Hey() if any(peer.cross_check_latency for peer in peers) else None
    if hey is not None and not hey.available:
        console.print(
            "[yellow]hey is not installed: BentoML's latency is wrk's, which is wrong at low concurrency[/yellow]"
        )
    answers = {
        f"{peer.key} {model.key} rows={count}": smoke_check(peer, model, model.rows(count))
        for peer in peers
        for model in models
        if peer.supports(model)
        for count in args.rows
    }
    minutes = estimate_minutes(args, models, peers)
    console.print(
        f"about {minutes:.0f} min of measuring" if minutes >= 2 else f"about {minutes * 60:.0f} s of measuring"
    )
    warn_if_busy("before measuring")
    meta = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": environment.machine(),
        "load_generator": {"name": gen.name, "version": gen.version()} if gen and peers else None,
        "grpc_load_generator": loadgen.GrpcLoad(args.timeout).version() if any(p.key in FORMS for p in peers) else None,
        "latency_cross_check": "hey -o csv (Debian)" if hey is not None and hey.available else None,
        "versions": venv_versions(peers),
        "skipped": skipped,
        "first_answers": answers,
        "model_titles": {model.key: model.title for model in models},
        "server_titles": {
            **{key: title for key, title in INPROCESS_TITLES.items() if key in args.servers},
            **{peer.key: peer.title for peer in peers},
        },
        "configurations": {peer.key: {"title": peer.title, "settings": peer.settings} for peer in peers},
    }
    samples = measure_all(args, models, peers, gen, hey, skipped)
    warn_if_busy("while measuring")
    memory_rows = [row for peer in peers for row in memory.measure(peer.key, peer.server_processes())]
    meta["memory"] = memory.as_json(memory_rows)
    meta["machine"]["loadavg_at_end"] = os.getloadavg()
    return meta, samples


def section_meta(args: argparse.Namespace) -> dict:
    """The result file's header when the comparison does not run (`--only shadows`)."""
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": environment.machine(),
        "versions": {"bench": environment.project_versions()},
    }


def venv_versions(peers: list[Peer]) -> dict[str, dict[str, str]]:
    """Every package of every venv measured: "bench" is the project venv (in-process and Shipyard)."""
    versions = {"bench": environment.project_versions()}
    for peer in peers:
        if peer.venv_name not in versions:
            versions[peer.venv_name] = peer.versions()
    return versions


def estimate_minutes(args: argparse.Namespace, models: list[BenchModel], peers: list[Peer]) -> float:
    """Measured load, warm-ups, in-process loops and latency cross-checks: what the run will take, roughly."""
    seconds = 0.0
    inprocess = [key for key in report.INPROCESS_KEYS if key in args.servers]
    for model in models:
        here = [peer for peer in peers if peer.supports(model)]
        calls = len(args.rows) * len(inprocess) - (report.INPROCESS_BATCH in inprocess) * (len(args.rows) - 1)
        seconds += calls * args.repeats * args.duration
        seconds += len(args.rows) * len(here) * args.warmup
        for peer in here:
            points = len(args.rows) * len(concurrencies(args, peer)) * args.repeats
            seconds += points * (args.duration + 0.3)
            if peer.cross_check_latency:
                checked = [c for c in concurrencies(args, peer) if c <= 16]
                seconds += len(args.rows) * len(checked) * args.repeats * 1.8
    return seconds / 60


def _progress(sample: report.Sample) -> None:
    conc = "in-process" if sample.concurrency is None else f"c={sample.concurrency}"
    errors = sum(sample.errors.values())
    flag = f" [red]{errors} errors[/red]" if errors else ""
    console.print(
        f"  {sample.server:<16} {sample.model:<7} rows={sample.rows:<3} {conc:<10} #{sample.repeat + 1}: "
        f"{sample.req_per_s:>9,.0f} req/s  p50 {sample.p50_ms:.2f} ms  p99 {sample.p99_ms:.2f} ms{flag}",
        highlight=False,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = args.output or RESULTS / f"{stamp}.json"
    args.markdown = args.markdown or output.with_suffix(".md")  # the tables and targets, readable, beside the JSON
    workdir = RESULTS / f"work-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        if "servers" in args.sections:
            with terminate_as_interrupt(), contextlib.ExitStack() as stack:
                meta, samples = run(args, workdir, stack)
            summaries = report.summarize(samples)
            checks = targets.evaluate(summaries)
            report.write_json(output, meta=meta, samples=samples, summaries=summaries, targets=targets.as_json(checks))
            report.render(console, summaries, meta["model_titles"], meta["server_titles"])
            load_generator = meta["load_generator"]
            if load_generator:
                console.print(f"Load generator: {load_generator['version']} (connections = concurrency)")
            if meta.get("grpc_load_generator"):
                console.print(f"gRPC load generator: {meta['grpc_load_generator']} (one channel per connection)")
            memory.render(console, memory.rows_from_json(meta.get("memory")), meta["server_titles"])
            targets.render(console, checks)
            if args.markdown:
                markdown.write(args.markdown, meta, summaries, checks)
                console.print(f"Markdown: {args.markdown}")
        else:
            meta, samples, summaries, checks = section_meta(args), [], [], []
        if shadows.SECTION in args.sections:
            # Its own section: the comparison's servers are stopped by now.
            console.rule("shadow cost")
            reason = shadows.unavailable_reason()
            if reason:
                console.print(f"[yellow]skipping the shadows section: {reason}[/yellow]", highlight=False)
                meta[shadows.SECTION] = {"skipped": reason}
            else:
                warn_if_busy("before the shadows section")
                with terminate_as_interrupt(), contextlib.ExitStack() as stack:
                    meta[shadows.SECTION] = shadows.run(args, workdir, stack, console)
                shadows.render(console, meta[shadows.SECTION])
            report.write_json(output, meta=meta, samples=samples, summaries=summaries, targets=targets.as_json(checks))
            if args.markdown and not reason:
                with args.markdown.open("a" if "servers" in args.sections else "w") as out:
                    out.write("\n" + shadows.markdown(meta[shadows.SECTION]))
                console.print(f"Markdown: {args.markdown}")
        if predlog.SECTION in args.sections:
            console.rule("prediction-log cost")
            reason = predlog.unavailable_reason()
            if reason:
                console.print(f"[yellow]skipping the predlog section: {reason}[/yellow]", highlight=False)
                meta[predlog.SECTION] = {"skipped": reason}
            else:
                warn_if_busy("before the predlog section")
                with terminate_as_interrupt(), contextlib.ExitStack() as stack:
                    meta[predlog.SECTION] = predlog.run(args, workdir, stack, console)
                predlog.render(console, meta[predlog.SECTION])
            report.write_json(output, meta=meta, samples=samples, summaries=summaries, targets=targets.as_json(checks))
            if args.markdown and not reason:
                with args.markdown.open("a" if set(args.sections) - {predlog.SECTION} else "w") as out:
                    out.write("\n" + predlog.markdown(meta[predlog.SECTION]))
        if drift.SECTION in args.sections:
            console.rule("drift against Evidently")
            warn_if_busy("before the drift section")
            meta[drift.SECTION] = drift.run(args, workdir, console)
            drift.render(console, meta[drift.SECTION])
            report.write_json(output, meta=meta, samples=samples, summaries=summaries, targets=targets.as_json(checks))
            if args.markdown:
                with args.markdown.open("a" if set(args.sections) - {drift.SECTION} else "w") as out:
                    out.write("\n" + drift.markdown(meta[drift.SECTION]))
        if args.quick:
            console.print("[yellow]--quick: one short repeat per point; a harness check, not a result.[/yellow]")
        console.print(f"Results: {output}")
        ok = True
    except SetupError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers stopped[/yellow]")
        return 130
    finally:
        if ok and not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not ok:
            console.print(f"server logs and saved models kept in {workdir}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
