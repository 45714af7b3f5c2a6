"""Running the app: one process, or N worker processes on one port, with graceful shutdown.

On SIGTERM (or Ctrl-C) a worker first turns readiness to 503 and keeps answering for
``drain_seconds`` (so a load balancer stops sending), then stops accepting, lets in-flight
requests finish for up to ``graceful_timeout_seconds``, unloads and exits 0. A second
signal skips the waiting.

The socket is bound before any model loads, so a port in use is one line and exit 14
(``PortInUse``) at once, not after a long load. "ready" is logged once requests are answered:
by the one process after its listener is up, or by the parent once every worker said so.

With ``workers > 1`` the parent binds the socket once and starts the workers with it
(spawn), forwards signals, restarts a worker that dies, and aggregates metrics through
``prometheus_client``'s multiprocess directory. The workers follow management calls
together through Unix sockets in a private directory the parent makes (``serving/peers``).
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from types import FrameType
from typing import cast

import uvicorn

from shipyard.config import Settings
from shipyard.errors import ConfigError, PortInUse
from shipyard.fs.scratch import pid_alive, remove_own, remove_stale, scratch_dir, scratch_root
from shipyard.http.connections import ConnectionLimits, protocol_class
from shipyard.logs import configure_logging
from shipyard.monitoring.metrics import MULTIPROC_ENV
from shipyard.registry.refs import ModelRef
from shipyard.serving.peers import WorkerPeers

logger = logging.getLogger(__name__)

MAX_RESTARTS = 5
PEERS_PREFIX = "shipyard-peers-"
STOP_MARGIN_SECONDS = 2.0
"""How long the multi-worker parent waits, beyond drain and graceful timeout, before it kills
workers that have not exited."""


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a readiness drain before the listener closes."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain_seconds: float,
        on_drain: Callable[[], None],
        on_ready: Callable[[], None],
    ) -> None:
        super().__init__(config)
        self._drain_seconds = drain_seconds
        self._on_drain = on_drain
        self._on_ready = on_ready
        self._drain_started: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Models load in the lifespan start-up (inside super().startup); the listener opens
        # after it: only then does this process answer.
        await super().startup(sockets)
        if not self.should_exit:
            self._on_ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded in _captured_signals: after a graceful stop the process exits 0
        # instead of re-raising the signal.
        if self._drain_started is not None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True
            return
        self._drain_started = time.monotonic()
        logger.info("shutdown requested (signal %d): draining", sig)
        self._on_drain()
        if self._drain_seconds <= 0:
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if (
            self._drain_started is not None
            and not self.should_exit
            and time.monotonic() - self._drain_started >= self._drain_seconds
        ):
            self.should_exit = True
        return await super().on_tick(counter)


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        header_seconds=settings.header_timeout_seconds,
        body_seconds=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
        max_requests=settings.max_requests_per_connection,
    )


def bind(settings: Settings) -> socket.socket:
    """The listening socket on ``settings.host:port``, bound before anything loads."""
    host, port = settings.host, settings.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"{where} is already in use by another process",
                hint=f"stop the other server (`ss -ltnp 'sport = :{port}'` shows it), "
                "or serve on another port with --port or SHIPYARD_PORT",
            ) from exc
        raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}", hint="check --host and --port") from exc
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (the real port when ``port`` was 0)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        # httptools, with read timeouts, a connection limit and a request cap (connections.py).
        http=protocol_class(connection_limits(settings)),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # Bound to loopback by default; a proxy in front can still pass X-Forwarded-For,
        # but rewriting the client address per request is not worth its cost here.
        proxy_headers=False,
        # uvicorn declares an int but waits with asyncio.wait_for: fractions (and 0) work as given.
        timeout_graceful_shutdown=cast(int, settings.graceful_timeout_seconds),
        # Idle keep-alive connections close after the header timeout (connections.py).
        timeout_keep_alive=15,
        backlog=2048,
    )


def serve_one(
    settings: Settings,
    refs: Sequence[ModelRef],
    sock: socket.socket,
    *,
    peers_dir: Path | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve on ``sock`` in this process until a signal stops it. A worker of several has
    ``peers_dir`` (its peers follow management calls with it) and ``on_ready`` (tells the
    parent); the one process logs "ready" itself."""
    from shipyard.bootstrap import open_services
    from shipyard.http.app import create_app

    configure_logging(settings.log_level)
    services = open_services(settings)
    try:
        app = create_app(services, refs)
        state = app.state.shipyard
        if peers_dir is not None:
            state.manager.join_peers(WorkerPeers(peers_dir, timeout=settings.request_timeout_seconds))

        def drain() -> None:
            state.dataplane.draining = True

        def ready() -> None:
            logger.info("ready: answering on %s (%s)", address(sock), ", ".join(state.manager.names()))

        server = GracefulServer(
            uvicorn_config(app, settings),
            drain_seconds=settings.drain_seconds,
            on_drain=drain,
            on_ready=on_ready or ready,
        )
        server.run(sockets=[sock])
    finally:
        services.close()
        # os._exit below skips finalizers: remove this process's extracted Python-class models
        # and other scratch directories now.
        remove_own(scratch_root(settings.home))
    # Threads still inside a model call (past the graceful timeout) would keep the
    # interpreter alive at exit: leave without joining them.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if server.started else 3)


def _worker_main(
    settings: Settings, refs: Sequence[ModelRef], sock: socket.socket, peers_dir: Path, ready: SimpleQueue[int]
) -> None:
    serve_one(settings, refs, sock, peers_dir=peers_dir, on_ready=lambda: ready.put(os.getpid()))


def serve(settings: Settings, refs: Sequence[ModelRef]) -> None:
    """Serve ``refs`` with ``settings.resolved_workers`` processes on ``settings.host:port``."""
    # What killed servers and registrations left behind (their pid is dead, or their lease unlocked).
    remove_stale(scratch_root(settings.home))
    sock = bind(settings)
    if settings.grpc_port:
        # Each worker binds the gRPC port itself (SO_REUSEPORT when several): find a taken
        # port here, as one line and exit 14, not as a failed start in every worker.
        from shipyard.grpcapi.server import check_port_free

        try:
            check_port_free(settings.host, settings.grpc_port)
        except PortInUse:
            sock.close()
            raise
    if settings.resolved_workers == 1:
        serve_one(settings, refs, sock)
        return
    configure_logging(settings.log_level)
    owned_dir = None
    if not os.environ.get(MULTIPROC_ENV):
        owned_dir = str(scratch_dir(scratch_root(settings.home), "metrics"))
        os.environ[MULTIPROC_ENV] = owned_dir
    peers_dir = _peers_dir()
    try:
        _supervise(settings, refs, sock, peers_dir)
    finally:
        sock.close()
        shutil.rmtree(peers_dir, ignore_errors=True)
        if owned_dir:
            shutil.rmtree(owned_dir, ignore_errors=True)


def _peers_dir() -> Path:
    """A new directory for the workers' sockets: short (a Unix socket path has at most 107
    bytes), private (mode 0700), named after this process. Those of servers that died
    without removing theirs (SIGKILL) are removed first."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{PEERS_PREFIX}*-*"):
        pid = stale.name.removeprefix(PEERS_PREFIX).split("-", 1)[0]
        if pid.isdigit() and stale.is_dir() and stale.stat().st_uid == os.getuid() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{PEERS_PREFIX}{os.getpid()}-", dir=root))


def _supervise(settings: Settings, refs: Sequence[ModelRef], sock: socket.socket, peers_dir: Path) -> None:
    from prometheus_client import multiprocess

    ctx = multiprocessing.get_context("spawn")
    ready: SimpleQueue[int] = ctx.SimpleQueue()  # pids of workers that answer requests
    waiting_for = settings.resolved_workers  # until the first "ready"
    stopping = False
    stop_deadline = float("inf")
    grace = settings.drain_seconds + settings.graceful_timeout_seconds + STOP_MARGIN_SECONDS

    def start() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_worker_main, args=(settings, refs, sock, peers_dir, ready), name="shipyard-worker")
        proc.start()
        return proc

    def on_signal(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping, stop_deadline
        if not stopping:
            stop_deadline = time.monotonic() + grace
        stopping = True
        for proc in workers:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)

    workers = [start() for _ in range(settings.resolved_workers)]
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    logger.info("starting %d workers on %s", len(workers), address(sock))
    restarts = 0
    failure: int | None = None
    try:
        while True:
            time.sleep(0.2)
            while not ready.empty():
                pid = ready.get()
                if waiting_for > 0:
                    waiting_for -= 1
                    if waiting_for == 0:
                        logger.info("ready: %d workers answering on %s", len(workers), address(sock))
                else:
                    logger.info("worker %d ready", pid)
            alive = [p for p in workers if p.is_alive()]
            if stopping:
                if not alive:
                    break
                if time.monotonic() >= stop_deadline:
                    logger.error("%d worker(s) still running %.1fs after the stop: killing them", len(alive), grace)
                    for proc in alive:
                        proc.kill()
                    break
                continue
            for i, proc in enumerate(workers):
                if proc.is_alive():
                    continue
                if proc.pid is not None:
                    multiprocess.mark_process_dead(proc.pid)  # type: ignore[no-untyped-call]
                if proc.exitcode == 3 or restarts >= MAX_RESTARTS:
                    logger.error("worker %s exited with %s; stopping", proc.pid, proc.exitcode)
                    failure = proc.exitcode or 1
                    on_signal(signal.SIGTERM, None)
                    break
                restarts += 1
                logger.warning("worker %s died (exit %s); starting another", proc.pid, proc.exitcode)
                workers[i] = start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        deadline = min(stop_deadline, time.monotonic() + grace)
        for proc in workers:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
    if failure is not None:
        raise SystemExit(failure)
