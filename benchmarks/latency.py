"""A second opinion on latency: Debian's `hey`, for servers whose latency wrk misreports.

wrk's latency histogram is wrong for BentoML at low concurrency (p99 of hundreds of ms against a
true 2-3 ms; its req/s is right). For such servers a short `hey` run at the same concurrency follows
each measured wrk run, and its percentiles, computed from hey's per-request CSV (0.1 ms
resolution), replace wrk's; wrk's stay in the result file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from loadgen import ensure_debian_tool, run_with_cpu

MAX_CONCURRENCY = 16  # above it, wrk's histogram agrees with hey's
DURATION_S = 1.5


@dataclass(frozen=True)
class HeyResult:
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float


class Hey:
    def __init__(self) -> None:
        self.available = ensure_debian_tool("hey")

    def applies(self, concurrency: int) -> bool:
        return self.available and concurrency <= MAX_CONCURRENCY

    def run(
        self,
        url: str,
        body: bytes,
        *,
        connections: int,
        duration_s: float = DURATION_S,
        headers: Mapping[str, str] | None = None,
    ) -> HeyResult:
        with tempfile.NamedTemporaryFile(prefix="bench-body-", suffix=".json") as body_file:
            body_file.write(body)
            body_file.flush()
            argv = ["hey", "-z", f"{duration_s:g}s", "-c", str(connections), "-m", "POST"]
            argv += ["-T", "application/json", "-D", body_file.name, "-o", "csv"]
            # hey takes headers on its command line only (no file option).
            for name, value in (headers or {}).items():
                argv += ["-H", f"{name}: {value}"]
            argv.append(url)
            output, _ = run_with_cpu(argv, deadline_s=duration_s + 60)
        return parse_csv(output)


def parse_csv(output: str) -> HeyResult:
    """hey -o csv: response-time (s),DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset."""
    times, non_2xx = [], 0
    for line in output.splitlines()[1:]:
        fields = line.split(",")
        if len(fields) < 8 or not fields[6].isdigit():
            continue
        times.append(float(fields[0]) * 1000)
        non_2xx += not 200 <= int(fields[6]) < 300
    if not times:
        return HeyResult(requests=0, non_2xx=0, p50_ms=float("nan"), p99_ms=float("nan"))
    values = np.array(times)
    return HeyResult(
        requests=len(times),
        non_2xx=non_2xx,
        p50_ms=float(np.percentile(values, 50)),
        p99_ms=float(np.percentile(values, 99)),
    )
