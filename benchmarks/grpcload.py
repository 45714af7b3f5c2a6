"""Load generator for OIP V2 over gRPC: closed-loop `ModelInfer` calls with a fixed, pre-serialized request.

    python grpcload.py HOST:PORT REQUEST_FILE --connections N --duration S [--timeout S] [--headers-file FILE]

REQUEST_FILE holds a serialized `inference.ModelInferRequest`; it is sent as bytes (no protobuf
work per call) and each answer is taken as bytes, so the client costs little more than gRPC's own
C core. Each connection is its own channel (a local subchannel pool: one TCP connection each, as
wrk's connections are) running one call at a time. Extra metadata (the API key) comes from a
private file, one `Name: value` a line, so it is on no command line. Prints one
`BENCH_JSON {...}` line with the same fields as post.lua and rawload.py; any status but OK counts
as an error (DEADLINE_EXCEEDED as a timeout, UNAVAILABLE as a connect error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import grpc
from rawload import percentile, read_headers

METHOD = "/inference.GRPCInferenceService/ModelInfer"
_KINDS = {grpc.StatusCode.DEADLINE_EXCEEDED: "timeout", grpc.StatusCode.UNAVAILABLE: "connect"}


def _identity(data: bytes) -> bytes:
    return data


async def connection(
    target: str,
    request: bytes,
    metadata: tuple[tuple[str, str], ...],
    stop_at: float,
    request_timeout: float,
    latencies: list[float],
    errors: Counter[str],
) -> int:
    """One channel, one call at a time until `stop_at`; the bytes received."""
    received = 0
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(METHOD, request_serializer=_identity, response_deserializer=_identity)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                answer = await call(request, metadata=metadata, timeout=request_timeout)
            except grpc.aio.AioRpcError as exc:
                errors[_KINDS.get(exc.code(), "status")] += 1
                if exc.code() in _KINDS:
                    return received
                continue
            latencies.append(time.perf_counter() - started)
            received += len(answer)
    return received


async def main(
    target: str, request: bytes, connections: int, duration: float, request_timeout: float, metadata: dict[str, str]
) -> dict[str, object]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    pairs = tuple((name.lower(), value) for name, value in metadata.items())
    started = time.perf_counter()
    stop_at = started + duration
    received = await asyncio.gather(
        *(connection(target, request, pairs, stop_at, request_timeout, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    values = sorted(latency * 1e6 for latency in latencies)
    return {
        "requests": len(values),
        "duration_us": round(elapsed * 1e6),
        "bytes": sum(received),
        "errors": {kind: errors[kind] for kind in ("connect", "read", "write", "status", "timeout")},
        "latency_us": {
            "mean": sum(values) / len(values) if values else 0.0,
            "max": values[-1] if values else 0.0,
            **{name: percentile(values, pct) for name, pct in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))},
        },
    }


def smoke(target: str, request: bytes, headers: Mapping[str, str], timeout: float = 30.0) -> str:
    """One ModelInfer with these very bytes; its model, version and outputs, or RuntimeError(the status and details)."""
    from tritonclient.grpc import service_pb2

    metadata = tuple((name.lower(), value) for name, value in headers.items())
    with grpc.insecure_channel(target) as channel:
        infer = channel.unary_unary(
            METHOD, request_serializer=_identity, response_deserializer=service_pb2.ModelInferResponse.FromString
        )
        try:
            answer = infer(request, metadata=metadata, timeout=timeout)
        except grpc.RpcError as exc:
            raise RuntimeError(f"{exc.code().name}: {exc.details()}") from exc
    outputs = [f"{out.name} {out.datatype} {list(out.shape)}" for out in answer.outputs]
    return f"model {answer.model_name} v{answer.model_version}: {', '.join(outputs)}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("request_file", type=Path)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--headers-file", type=Path, default=None, help="extra metadata, one 'Name: value' a line")
    args = parser.parse_args()
    headers = read_headers(args.headers_file)
    result = asyncio.run(
        main(args.target, args.request_file.read_bytes(), args.connections, args.duration, args.timeout, headers)
    )
    print("BENCH_JSON " + json.dumps(result), flush=True)
