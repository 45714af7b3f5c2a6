"""Load generators: Debian's wrk (preferred) or our own asyncio one, each in a separate process.

Both print one `BENCH_JSON {...}` line with the same fields (see post.lua), which becomes a
`LoadResult`. The generator's own CPU time comes from the kernel's accounting of the child (wait4).
Extra request headers (Shipyard's API key) go to the child in a private temporary file, one
`Name: value` a line, so the key is in neither its command line nor its environment.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from processes import SetupError

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "post.lua"
RAW_LOADGEN = HERE / "rawload.py"
GRPC_LOADGEN = HERE / "grpcload.py"
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    errors: dict[str, int]  # connect/read/write/timeout: socket errors; status: non-2xx responses
    latency_ms: dict[str, float]  # mean, max, p50, p90, p99, p999
    loadgen_cpu_s: float

    @property
    def req_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class LoadGenerator:
    """Runs one measured load against a URL with a fixed POST body."""

    name = "abstract"

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s  # per request

    def version(self) -> str:
        raise NotImplementedError

    def argv(
        self, url: str, body_file: Path, connections: int, duration_s: float, headers_file: Path | None
    ) -> list[str]:
        raise NotImplementedError

    def run(
        self,
        url: str,
        body: bytes,
        *,
        connections: int,
        duration_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> LoadResult:
        with (
            tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json") as body_file,
            tempfile.NamedTemporaryFile(prefix="bench-headers-", suffix=".txt") as headers_file,  # mode 0600
        ):
            body_file.write(body)
            body_file.flush()
            headers_path = None
            if headers:
                headers_file.write(header_lines(headers))
                headers_file.flush()
                headers_path = Path(headers_file.name)
            argv = self.argv(url, Path(body_file.name), connections, duration_s, headers_path)
            output, cpu_s = run_with_cpu(argv, deadline_s=duration_s + self.timeout_s + 30)
        for line in output.splitlines():
            if line.startswith(MARKER):
                raw = json.loads(line[len(MARKER) :])
                break
        else:
            raise SetupError(f"{self.name} printed no result: {output.strip()[-300:]!r}")
        return LoadResult(
            requests=raw["requests"],
            duration_s=raw["duration_us"] / 1e6,
            errors=raw["errors"],
            latency_ms={key: value / 1000 for key, value in raw["latency_us"].items()},
            loadgen_cpu_s=cpu_s,
        )


class Wrk(LoadGenerator):
    """wrk with one thread (the machine has two cores to share with the server); connections = concurrency."""

    name = "wrk"

    def version(self) -> str:
        completed = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        return (completed.stdout + completed.stderr).splitlines()[0].split(" Copyright")[0].strip()

    def argv(
        self, url: str, body_file: Path, connections: int, duration_s: float, headers_file: Path | None
    ) -> list[str]:
        timeout = f"{max(1, round(self.timeout_s))}s"
        # wrk takes whole seconds only ("-d1.5s" is refused).
        options = ["-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", f"--timeout={timeout}", "--latency"]
        script_args = [str(body_file), *([str(headers_file)] if headers_file else [])]
        return ["wrk", *options, "-s", str(LUA_SCRIPT), url, "--", *script_args]


class RawLoad(LoadGenerator):
    """Fallback: rawload.py (asyncio, raw HTTP/1.1 keep-alive sockets) in its own process."""

    name = "rawload (asyncio)"

    def version(self) -> str:
        return f"benchmarks/rawload.py on Python {sys.version.split()[0]}"

    def argv(
        self, url: str, body_file: Path, connections: int, duration_s: float, headers_file: Path | None
    ) -> list[str]:
        options = [f"--connections={connections}", f"--duration={duration_s:g}", f"--timeout={self.timeout_s:g}"]
        if headers_file:
            options.append(f"--headers-file={headers_file}")
        return [sys.executable, str(RAW_LOADGEN), url, str(body_file), *options]


class GrpcLoad(LoadGenerator):
    """OIP V2 over gRPC: grpcload.py (grpc.aio, pre-serialized ModelInferRequest) in its own process.

    Its URL is `grpc://HOST:PORT`; the body is the serialized request; headers go as call metadata.
    """

    name = "grpcload (grpc.aio)"

    def version(self) -> str:
        import grpc

        return f"benchmarks/grpcload.py, grpcio {grpc.__version__}, Python {sys.version.split()[0]}"

    def argv(
        self, url: str, body_file: Path, connections: int, duration_s: float, headers_file: Path | None
    ) -> list[str]:
        target = url.removeprefix("grpc://")
        options = [f"--connections={connections}", f"--duration={duration_s:g}", f"--timeout={self.timeout_s:g}"]
        if headers_file:
            options.append(f"--headers-file={headers_file}")
        return [sys.executable, str(GRPC_LOADGEN), target, str(body_file), *options]


def header_lines(headers: Mapping[str, str]) -> bytes:
    """`Name: value` lines for post.lua and rawload.py; refuses what would split a header."""
    lines = []
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n") or ":" in name or not name:
            raise SetupError(f"bad request header {name!r}")
        lines.append(f"{name}: {value}\n")
    return "".join(lines).encode("latin-1")


def ensure_debian_tool(binary: str, package: str | None = None) -> bool:
    """Whether `binary` is on PATH, installing Debian's package first when missing and running as root."""
    if shutil.which(binary) is None and os.geteuid() == 0 and shutil.which("apt-get"):
        logger.info("%s is missing: installing Debian's package", binary)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", package or binary]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
            subprocess.run(install, env=env, capture_output=True, check=False)
    return shutil.which(binary) is not None


def choose(preferred: str, timeout_s: float) -> LoadGenerator:
    """wrk if present (installing Debian's package when root), else the asyncio fallback."""
    if preferred == "rawload":
        return RawLoad(timeout_s)
    if ensure_debian_tool("wrk"):
        return Wrk(timeout_s)
    if preferred == "wrk":
        raise SetupError("wrk is not installed and could not be installed (try --loadgen rawload)")
    logger.warning("wrk unavailable: falling back to the asyncio load generator")
    return RawLoad(timeout_s)


def run_with_cpu(argv: list[str], *, deadline_s: float) -> tuple[str, float]:
    """Run a child to completion; its stdout+stderr and the CPU seconds it used (user + system)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + deadline_s
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    raise SetupError(f"{argv[0]} did not finish within {deadline_s:.0f} s")
                time.sleep(0.05)
        finally:
            if proc.returncode is None:  # timed out or interrupted: do not leave load running
                proc.kill()
                proc.wait()
        out.seek(0)
        output = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}): {output.strip()[-300:]!r}")
    return output, usage.ru_utime + usage.ru_stime
