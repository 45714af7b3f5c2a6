"""Fallback load generator when wrk is unavailable: asyncio + raw HTTP/1.1 keep-alive sockets.

Run as its own process: `python rawload.py URL BODY_FILE --connections N --duration S
[--headers-file FILE]` (extra request headers, one `Name: value` a line). Each
connection sends one request at a time (like wrk) and the run prints the same `BENCH_JSON` line as
post.lua. Lighter than an HTTP client library, but still Python: at high rates it needs more CPU
than wrk, which the report shows as load-generator CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


def build_request(url: str, body: bytes, headers: Mapping[str, str] | None = None) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = dict(headers or {})
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"  # extra headers may set another (binary V2)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head = f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    return host, port, head.encode("latin-1") + body


def read_headers(path: Path | None) -> dict[str, str]:
    """`Name: value` lines (as loadgen.header_lines writes them)."""
    if path is None:
        return {}
    headers = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body); its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def connection(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    request_timeout: float,
    latencies: list[float],
    errors: Counter[str],
) -> None:
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), request_timeout)
    except (OSError, TimeoutError):
        errors["connect"] += 1
        return
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            try:
                status = await asyncio.wait_for(read_response(reader), request_timeout)
            except TimeoutError:
                errors["timeout"] += 1
                return
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors["read"] += 1
                return
            latencies.append(time.perf_counter() - started)
            if not 200 <= status < 300:
                errors["status"] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


async def main(
    url: str,
    body: bytes,
    connections: int,
    duration: float,
    request_timeout: float,
    headers: Mapping[str, str] | None = None,
) -> dict[str, object]:
    host, port, request = build_request(url, body, headers)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(connection(host, port, request, stop_at, request_timeout, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    values = sorted(latency * 1e6 for latency in latencies)
    return {
        "requests": len(values),
        "duration_us": round(elapsed * 1e6),
        "bytes": 0,
        "errors": {kind: errors[kind] for kind in ("connect", "read", "write", "status", "timeout")},
        "latency_us": {
            "mean": sum(values) / len(values) if values else 0.0,
            "max": values[-1] if values else 0.0,
            **{name: percentile(values, pct) for name, pct in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))},
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body_file", type=Path)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--headers-file", type=Path, default=None, help="extra headers, one 'Name: value' a line")
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    headers = read_headers(args.headers_file)
    result = run(main(args.url, args.body_file.read_bytes(), args.connections, args.duration, args.timeout, headers))
    print("BENCH_JSON " + json.dumps(result), flush=True)
