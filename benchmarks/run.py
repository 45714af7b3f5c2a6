"""Benchmark Shipyard against in-process `predict` and `mlflow models serve`: `make bench`.

Trains the two benchmark models, sets up and starts every chosen server on 127.0.0.1, then measures
each point (model x rows per request x concurrency), alternating servers point by point and
repeating, and reports medians. See benchmarks/README.md.
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
import loadgen
import numpy as np
import report
from inprocess import measure_predict
from models import MODEL_KEYS, BenchModel, make_data, request_rows, train
from peers import PEERS, Peer
from processes import SetupError, http_status
from rich.console import Console
from rich.logging import RichHandler

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SERVERS = (report.INPROCESS, *PEERS)

console = Console()
if not console.is_terminal:
    console.width = 120  # make bench | tee: keep the table readable
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
    parser.add_argument("--servers", type=_choices(SERVERS), default=list(SERVERS), help="comma list (default: all)")
    parser.add_argument("--models", type=_choices(MODEL_KEYS), default=list(MODEL_KEYS), help="comma list: lr,rf")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 16, 64], help="connections (default 1,16,64)")
    parser.add_argument("--rows", type=_int_list, default=[1, 100], help="rows per request (default 1,100)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measured run (default 10)")
    parser.add_argument(
        "--repeats", type=int, default=None, help="measured runs per point (default 2); medians are reported"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of unmeasured load per server before each model x rows block (default 2)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="defaults of 3 s x 1 repeat, 1 s warm-up: checks the harness, not a result"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="server worker processes (default: each server's own)"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "rawload"), default="auto")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout for the load generator")
    parser.add_argument(
        "--output", type=Path, default=None, help="result JSON (default benchmarks/results/TIMESTAMP.json)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep saved models and server logs after success")
    args = parser.parse_args(argv)
    defaults = (
        {"duration": 3.0, "repeats": 1, "warmup": 1.0}
        if args.quick
        else {"duration": 10.0, "repeats": 2, "warmup": 2.0}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.duration <= 0 or args.duration > 600 or args.repeats < 1:
        parser.error("--duration must be in (0, 600] and --repeats at least 1")
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


def smoke_check(peer: Peer, model: BenchModel, rows: list[list[float]]) -> str:
    """One request before measuring: a server answering 4xx fast would otherwise look very quick.

    Returns the start of the answer, kept in the result file: servers differ in what they send back.
    """
    url = peer.endpoint(model).url
    status, body = http_status(url, body=peer.body(rows), timeout=30)
    if status != 200:
        raise SetupError(f"{peer.title} answered {status} to {len(rows)} row(s) at {url}: {body[:200]!r}")
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
    for key in (server for server in args.servers if server in PEERS):
        peer = PEERS[key](workdir, args.workers)
        reason = peer.unavailable_reason()
        if reason:
            console.print(f"[yellow]skipping {peer.title}: {reason}[/yellow]", highlight=False)
            skipped[key] = reason
            continue
        with console.status(f"setting up {peer.title}"):
            stack.callback(peer.stop)
            peer.setup(models, *data)
            peer.start(models)
        console.print(f"{peer.title} is up")
        peers.append(peer)
    return peers, skipped


def measure_inprocess(model: BenchModel, rows: list[list[float]], *, repeat: int, duration: float) -> report.Sample:
    result = measure_predict(model.estimator, np.asarray(rows), duration_s=duration)
    return report.Sample(
        server=report.INPROCESS,
        model=model.key,
        rows=len(rows),
        concurrency=None,
        repeat=repeat,
        requests=result.calls,
        duration_s=result.duration_s,
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        errors={},
        server_cpu_pct=100 * result.cpu_s / result.duration_s,
        loadgen_cpu_pct=None,
    )


def measure_server(
    gen: loadgen.LoadGenerator,
    peer: Peer,
    model: BenchModel,
    rows: list[list[float]],
    *,
    concurrency: int,
    repeat: int,
    duration: float,
) -> report.Sample:
    endpoint = peer.endpoint(model)
    cpu_before = endpoint.process.cpu_seconds()
    result = gen.run(endpoint.url, peer.body(rows), connections=concurrency, duration_s=duration)
    server_cpu = endpoint.process.cpu_seconds() - cpu_before
    return report.Sample(
        server=peer.key,
        model=model.key,
        rows=len(rows),
        concurrency=concurrency,
        repeat=repeat,
        requests=result.requests,
        duration_s=result.duration_s,
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        errors=result.errors,
        server_cpu_pct=100 * server_cpu / result.duration_s,
        loadgen_cpu_pct=100 * result.loadgen_cpu_s / result.duration_s,
    )


def measure_all(
    args: argparse.Namespace,
    models: list[BenchModel],
    X: np.ndarray,
    peers: list[Peer],
    gen: loadgen.LoadGenerator | None,
) -> list[report.Sample]:
    samples: list[report.Sample] = []

    def record(sample: report.Sample) -> None:
        samples.append(sample)
        _progress(sample)

    for model in models:
        for count in args.rows:
            rows = request_rows(X, count)
            if report.INPROCESS in args.servers:
                for repeat in range(args.repeats):
                    record(measure_inprocess(model, rows, repeat=repeat, duration=args.duration))
            if gen is None or not peers:
                continue
            for peer in peers:
                if args.warmup > 0:
                    measure_server(
                        gen, peer, model, rows, concurrency=args.concurrency[0], repeat=-1, duration=args.warmup
                    )
            for concurrency in args.concurrency:
                for repeat in range(args.repeats):
                    # Rotate who goes first, so drift on a shared machine does not favour one server.
                    shift = repeat % len(peers)
                    for peer in peers[shift:] + peers[:shift]:
                        sample = measure_server(
                            gen, peer, model, rows, concurrency=concurrency, repeat=repeat, duration=args.duration
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
    answers = {
        f"{peer.key} {model.key} rows={count}": smoke_check(peer, model, request_rows(X, count))
        for peer in peers
        for model in models
        for count in args.rows
    }
    warn_if_busy("before measuring")
    meta = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": environment.machine(),
        "load_generator": {"name": gen.name, "version": gen.version()} if gen and peers else None,
        "versions": {"bench": environment.project_versions(), **{peer.key: peer.versions() for peer in peers}},
        "skipped": skipped,
        "first_answers": answers,
        "model_titles": {model.key: model.title for model in models},
        "server_titles": {report.INPROCESS: "in-process", **{peer.key: peer.title for peer in peers}},
    }
    samples = measure_all(args, models, X, peers, gen)
    warn_if_busy("while measuring")
    meta["machine"]["loadavg_at_end"] = os.getloadavg()
    return meta, samples


def _progress(sample: report.Sample) -> None:
    conc = "in-process" if sample.concurrency is None else f"c={sample.concurrency}"
    errors = sum(sample.errors.values())
    flag = f" [red]{errors} errors[/red]" if errors else ""
    console.print(
        f"  {sample.server:<9} {sample.model} rows={sample.rows:<3} {conc:<10} #{sample.repeat + 1}: "
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
    workdir = RESULTS / f"work-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    ok = False
    try:
        with terminate_as_interrupt(), contextlib.ExitStack() as stack:
            meta, samples = run(args, workdir, stack)
        summaries = report.summarize(samples)
        report.write_json(output, meta=meta, samples=samples, summaries=summaries)
        report.render(console, summaries, meta["model_titles"], meta["server_titles"])
        load_generator = meta["load_generator"]
        if load_generator:
            console.print(f"Load generator: {load_generator['version']} (connections = concurrency)")
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
