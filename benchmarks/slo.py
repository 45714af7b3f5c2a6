"""SLO-aware batching under rising load: a forest behind `shipyard serve`, sent an open-loop
load that doubles every step, once per batching configuration.

    python benchmarks/slo.py                      # the full run: 10 s steps, ~6 minutes
    python benchmarks/slo.py --step-seconds 2     # a quick look while developing
    python benchmarks/slo.py --simulate           # the batcher alone, over a model that sleeps

Each configuration gets its own server (one worker) over the same registry. The load is
open-loop (Poisson arrivals at the step's rate, whatever the server answers), and a request's
latency counts from when it was due, not from when a connection was free: a server that
falls behind is charged for the queue it builds (no coordinated omission). Per step the
table shows the offered and answered rate, p50 and p99, failures (503 when the queue is
full, timeouts) and the server's CPU use; the summary gives each configuration's highest
rate with p99 under the SLO and no failures, and its most answers per second.

``--simulate`` drives the batcher itself (no HTTP, no server) over a model that sleeps
``--fixed-ms + --per-row-ms * rows`` (a native forest's shape by default): the batching
decisions alone, without the machine's other load in the figures.

Configurations: ``slo`` (``slo_p99_ms``: the tuner), ``default`` (the adaptive policy without an
SLO), ``fixed-large`` (up to 2048 rows and 20 ms per call: favours throughput) and
``fixed-small`` (8 rows per call: favours latency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
MODEL = "forest"


@dataclass(frozen=True)
class Config:
    key: str
    title: str
    env: dict[str, str]


def configs(slo_ms: float) -> list[Config]:
    return [
        Config("slo", f"slo_p99_ms={slo_ms:g} (tuned)", {"SHIPYARD_SLO_P99_MS": f"{slo_ms:g}"}),
        Config("default", "default adaptive (256 rows, wait <= 5 ms)", {}),
        Config(
            "fixed-large",
            "fixed large (2048 rows, wait <= 20 ms)",
            {"SHIPYARD_MAX_BATCH_ROWS": "2048", "SHIPYARD_MAX_BATCH_WAIT_MS": "20"},
        ),
        Config("fixed-small", "fixed small (8 rows per call)", {"SHIPYARD_MAX_BATCH_ROWS": "8"}),
    ]


@dataclass(frozen=True)
class Step:
    config: str
    offered_rps: float
    answered_rps: float
    p50_ms: float | None
    p99_ms: float | None
    failed: int
    sent: int
    server_cpu: float
    """Cores the server used on average during the step (1.0 = one core busy)."""


# -- set-up ------------------------------------------------------------------------------------
def register(home: Path, rows: int) -> str:
    """Train the forest, register it in ``home`` and make a predictor key; the key's token."""
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.governance.keys import make_grants

    X, y = make_classification(n_samples=10_000, n_features=20, n_informative=10, n_redundant=4, random_state=0)
    forest = RandomForestClassifier(max_depth=10, random_state=0).fit(X, y)
    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    try:
        services.registry.register(MODEL, forest, sample=X[:5])
        _, token = services.keys.create("bench-slo", make_grants(["predictor"], ["*"]), created_by="user:bench")
    finally:
        services.close()
    body = {"inputs": [{"name": "input-0", "shape": [rows, 20], "datatype": "FP64", "data": X[:rows].ravel().tolist()}]}
    (home / "body.json").write_text(json.dumps(body))
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(home: Path, config: Config, workers: int, runtime: str) -> Iterator[tuple[int, int]]:
    """``shipyard serve forest`` with ``config``'s settings; yields (port, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_ACCESS_LOG": "false",
        "SHIPYARD_RUNTIME": runtime,
        "SHIPYARD_LOG_LEVEL": "WARNING",
        "SHIPYARD_OPEN_METRICS": "true",  # the tuner's choices, read after each step
        **config.env,
    }
    argv = [sys.executable, "-m", "shipyard", "serve", MODEL, "--host", HOST, "--port", str(port)]
    argv += ["--grpc-port", "0", "--workers", str(workers)]
    log = (home / f"server-{config.key}.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}); see {log.name}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://{HOST}:{port}/v2/health/ready", timeout=1) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready in 120 s; see {log.name}")
            time.sleep(0.25)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# -- the open-loop load --------------------------------------------------------------------------
async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(v) for n, _, v in (h.partition(":") for h in lines[1:]) if n.lower() == "content-length"), 0)
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


class Connections:
    """Keep-alive connections, one request at a time each; new ones opened while all are busy."""

    def __init__(self, port: int, request: bytes, limit: int) -> None:
        self._port = port
        self._request = request
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(limit)

    async def send(self, limit_seconds: float) -> int:
        async with self._slots:
            # A kept-alive connection the server has closed meanwhile (its keep-alive timeout)
            # fails at once: then once more on a new one.
            for reused in (bool(self._idle), False):
                conn = self._idle.pop() if reused else await asyncio.open_connection(HOST, self._port)
                try:
                    conn[1].write(self._request)
                    status = await asyncio.wait_for(read_status(conn[0]), limit_seconds)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    conn[1].close()
                    if reused and not isinstance(exc, TimeoutError):
                        continue
                    return 0
                self._idle.append(conn)
                return status
            return 0

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


Send = Callable[[], Awaitable[int]]
"""One request: its HTTP status (0: no answer)."""


async def run_step(send: Send, rate: float, seconds: float, seed: int) -> tuple[list[float], int, int, float]:
    """Poisson arrivals at ``rate`` for ``seconds``: (latencies of 200s, failures, sent, elapsed)."""
    rng = random.Random(seed)
    latencies: list[float] = []
    failed = 0
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def one(due: float) -> None:
        nonlocal failed
        status = await send()
        if status == 200:
            latencies.append(loop.time() - due)
        else:
            failed += 1

    start = loop.time()
    due = start
    sent = 0
    while due < start + seconds:
        due += rng.expovariate(rate)
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    if tasks:
        await asyncio.wait(tasks)
    return latencies, failed, sent, loop.time() - start


def quantile(values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.asarray(values), q)) * 1000 if values else None


def tuner_choice(port: int) -> str | None:
    """The tuner's latest choice, from the server's /metrics (None when they are not there)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith("shipyard_batch_") and f'model="{MODEL}"' in line:
            values[line.split("{", 1)[0]] = float(line.rsplit(" ", 1)[1])
    if "shipyard_batch_target_rows" not in values:
        return None
    wait = values.get("shipyard_batch_wait_seconds", 0.0) * 1000
    p99 = values.get("shipyard_batch_latency_p99_seconds", 0.0) * 1000
    saturated = " (saturated)" if values.get("shipyard_batch_saturated") else ""
    return f"hold up to {wait:.2f} ms for {values['shipyard_batch_target_rows']:.0f} rows, p99 {p99:.1f} ms{saturated}"


@dataclass
class Target:
    """One configuration under load: how to send it a request, and what its CPU use is."""

    config: Config
    send: Send
    cpu: Callable[[], float]
    choice: Callable[[], str | None] = lambda: None
    """The tuner's latest choice, when it has one."""
    steps: list[Step] = field(default_factory=list)
    done: bool = False


async def ramp(targets: list[Target], args: argparse.Namespace) -> None:
    """A short warm-up of each, then the load steps: each step is run against every
    configuration in turn, so that a machine busy with other work weighs on all alike."""
    for target in targets:
        await run_step(target.send, args.start_rps, min(2.0, args.step_seconds), seed=0)
    for i in range(args.steps):
        rate = args.start_rps * 2**i
        for target in targets:
            if target.done:
                continue
            cpu0 = target.cpu()
            latencies, failed, sent, elapsed = await run_step(target.send, rate, args.step_seconds, seed=i + 1)
            step = Step(
                config=target.config.key,
                offered_rps=rate,
                answered_rps=len(latencies) / elapsed,
                p50_ms=quantile(latencies, 0.5),
                p99_ms=quantile(latencies, 0.99),
                failed=failed,
                sent=sent,
                server_cpu=(target.cpu() - cpu0) / elapsed,
            )
            target.steps.append(step)
            choice = target.choice()
            print(row(step, args.slo_ms) + (f"   tuner: {choice}" if choice else ""), flush=True)
            # Far past saturation more load only measures the queue.
            target.done = step.p99_ms is not None and step.p99_ms > 20 * args.slo_ms and step.answered_rps < 0.5 * rate


async def measure_servers(
    servers: list[tuple[Config, int, int]], token: str, body: bytes, args: argparse.Namespace
) -> list[Target]:
    targets: list[Target] = []
    connections: list[Connections] = []
    for config, port, pid in servers:
        head = (
            f"POST /v2/models/{MODEL}/infer HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        conns = Connections(port, head.encode("latin-1") + body, args.connections)
        connections.append(conns)
        targets.append(
            Target(
                config,
                functools.partial(conns.send, limit_seconds=10.0),
                functools.partial(cpu_seconds, pid),
                functools.partial(tuner_choice, port) if config.key == "slo" else lambda: None,
            )
        )
    try:
        await ramp(targets, args)
    finally:
        for conns in connections:
            conns.close()
    return targets


# -- the batcher alone, with a model that sleeps ---------------------------------------------
async def simulate(chosen: list[Config], args: argparse.Namespace) -> list[Target]:
    """Each configuration's batching policy over a model that costs ``fixed + per_row * rows``
    seconds of sleep: the batcher's decisions, with little of the machine's load in the figures."""
    from concurrent.futures import ThreadPoolExecutor

    from shipyard.config import Settings
    from shipyard.flavors.base import LoadedModel
    from shipyard.schema.batch import Batch, Outputs
    from shipyard.schema.signature import FieldSpec, infer_signature
    from shipyard.serving.batching import Batcher, BatchPolicy
    from shipyard.serving.events import BatchRecord
    from shipyard.serving.slo import TunedBatchRecord

    class Sleeper(LoadedModel):
        flavor = "simulated"

        @property
        def outputs(self) -> tuple[FieldSpec, ...]:
            return (FieldSpec("predict", "float64"),)

        def predict(self, batch: Batch) -> Outputs:
            time.sleep(args.fixed_ms / 1000 + args.per_row_ms / 1000 * batch.n_rows)
            return {"predict": np.zeros(batch.n_rows)}

    matrix = np.zeros((args.rows, 20))
    batch = Batch(infer_signature(matrix), matrix=matrix)
    last: dict[str, str] = {}

    def on_batch(record: BatchRecord) -> None:
        if isinstance(record, TunedBatchRecord) and record.tuning is not None:
            t = record.tuning
            saturated = " (saturated)" if t.saturated else ""
            last["slo"] = f"hold up to {t.wait_seconds * 1000:.2f} ms for {t.batch_rows} rows{saturated}"

    def sender(batcher: Batcher) -> Send:
        async def send() -> int:
            try:
                await batcher.submit(batch)
            except Exception:
                return 503
            return 200

        return send

    with ThreadPoolExecutor(4) as pool:
        batchers = [
            Batcher(
                Sleeper(),
                ref=f"{MODEL}/1",
                name=MODEL,
                version=1,
                policy=BatchPolicy.from_settings(Settings.load(env=config.env), MODEL),
                executor=pool,
                on_batch=on_batch,
            )
            for config in chosen
        ]
        targets = [
            Target(config, sender(batcher), time.process_time, functools.partial(last.get, config.key))
            for config, batcher in zip(chosen, batchers, strict=True)
        ]
        try:
            await ramp(targets, args)
        finally:
            for batcher in batchers:
                await batcher.aclose()
    return targets


# -- the report -----------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def row(step: Step, slo_ms: float) -> str:
    met = step.p99_ms is not None and step.p99_ms <= slo_ms and step.failed == 0
    return (
        f"  {step.config:<12} {step.offered_rps:>8,.0f} {step.answered_rps:>9,.0f} {fmt(step.p50_ms):>8} "
        f"{fmt(step.p99_ms):>9} {step.failed:>7} {step.server_cpu:>5.2f}  {'yes' if met else 'NO'}"
    )


HEADER = f"  {'config':<12} {'offered':>8} {'answered':>9} {'p50 ms':>8} {'p99 ms':>9} {'failed':>7} {'cores':>5}  SLO"


def summary(results: dict[str, list[Step]], titles: dict[str, str], slo_ms: float) -> list[str]:
    lines = ["", "By configuration:", HEADER, *(row(step, slo_ms) for steps in results.values() for step in steps)]
    lines += [
        "",
        f"Summary (p99 SLO {slo_ms:g} ms):",
        f"  {'config':<12} {'best rps in SLO':>16} {'most answered/s':>16}  title",
    ]
    for key, steps in results.items():
        within = [s.answered_rps for s in steps if s.p99_ms is not None and s.p99_ms <= slo_ms and s.failed == 0]
        best = max(within) if within else None
        most = max((s.answered_rps for s in steps), default=None)
        lines.append(f"  {key:<12} {fmt(best, 0):>16} {fmt(most, 0):>16}  {titles[key]}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slo-ms", type=float, default=25.0, help="the p99 target (default 25)")
    parser.add_argument("--start-rps", type=float, default=100.0, help="requests/s of the first step (default 100)")
    parser.add_argument("--steps", type=int, default=7, help="load steps, each twice the last (default 7)")
    parser.add_argument("--step-seconds", type=float, default=10.0, help="length of a step (default 10)")
    parser.add_argument("--rows", type=int, default=1, help="rows per request (default 1)")
    parser.add_argument("--connections", type=int, default=256, help="most requests in flight (default 256)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--runtime", choices=("auto", "native", "compiled"), default="auto")
    parser.add_argument(
        "--configs", default="slo,default,fixed-large,fixed-small", help="which configurations, in order"
    )
    parser.add_argument("--json", type=Path, help="also write the steps here")
    parser.add_argument(
        "--simulate", action="store_true", help="drive the batcher alone, over a model that sleeps (no server)"
    )
    parser.add_argument("--fixed-ms", type=float, default=5.0, help="--simulate: the model's cost per call (5)")
    parser.add_argument("--per-row-ms", type=float, default=0.05, help="--simulate: its cost per row (0.05)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the registry and server logs here (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    if args.slo_ms <= 0 or args.start_rps <= 0 or args.steps < 1 or args.step_seconds <= 0 or args.rows < 1:
        parser.error("--slo-ms, --start-rps, --step-seconds, --rows and --steps must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = {c.key: c for c in configs(args.slo_ms)}
    wanted = [k.strip() for k in args.configs.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in chosen]
    if unknown:
        print(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(chosen)}", file=sys.stderr)
        return 2
    rates = ", ".join(f"{args.start_rps * 2**i:,.0f}" for i in range(args.steps))
    load = f"open-loop Poisson load doubling every {args.step_seconds:g} s: {rates} req/s; {os.cpu_count()} CPUs"
    results: dict[str, list[Step]] = {}
    if args.simulate:
        print(
            f"The batcher alone (no HTTP), a model sleeping {args.fixed_ms:g} ms + {args.per_row_ms:g} ms a row, "
            f"{args.rows} row(s) per request, {load}; 'cores' is this process's CPU (all configurations)",
            flush=True,
        )
        print(HEADER, flush=True)
        targets = asyncio.run(simulate([chosen[k] for k in wanted], args))
    else:
        print(
            f"Forest (100 trees, depth 10) behind shipyard serve, {args.rows} row(s) per request, "
            f"runtime {args.runtime}, {args.workers} worker(s), {load}",
            flush=True,
        )
        targets = serve_and_measure(args, [chosen[k] for k in wanted])
    results = {t.config.key: t.steps for t in targets}
    for line in summary(results, {k: chosen[k].title for k in results}, args.slo_ms):
        print(line)
    if args.json is not None:
        payload = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "steps": [asdict(s) for r in results.values() for s in r],
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


def serve_and_measure(args: argparse.Namespace, chosen: list[Config]) -> list[Target]:
    """One server per configuration, all started first (idle while another is measured)."""
    with contextlib.ExitStack() as stack:
        scratch = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-slo-")))
        home = scratch / "home"
        home.mkdir(parents=True)
        token = register(home, args.rows)
        body = (home / "body.json").read_bytes()
        servers = []
        for config in chosen:
            port, pid = stack.enter_context(server(home, config, args.workers, args.runtime))
            servers.append((config, port, pid))
        print(HEADER, flush=True)
        return asyncio.run(measure_servers(servers, token, body, args))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
