"""Traces from a real Shipyard server to a real OTLP/HTTP receiver: the span tree of an
inference (request → validation → queue → model → log), its attributes, the caller's
``traceparent`` honoured, sampling, and the trace and request ids in the JSON logs."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from pathlib import Path

import httpx
from otlp_receiver import OtlpReceiver, ReceivedSpan

from live_server import LiveServer

BODY = {"inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP64", "data": [0.1, 0.2, 0.3, -1, 0, 1]}]}
PHASES = ["validation", "queue", "model", "log"]
SERVER_KIND = 2  # SPAN_KIND_SERVER


def settings(otlp: OtlpReceiver, rate: str = "1.0") -> dict[str, str]:
    return {"otlp_endpoint": otlp.endpoint, "trace_sample_rate": rate, "log_mode": "off"}


FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.name.split(" ")[0]: s for s in spans}


def test_an_inference_is_traced_under_the_callers_traceparent(lr_home: Path, otlp: OtlpReceiver) -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    with LiveServer(lr_home, ["lr"], settings=settings(otlp), env=FAST_EXPORT) as server, server.client() as client:
        answer = client.post(
            "/v2/models/lr/infer",
            json=BODY,
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "X-Request-Id": "req-trace-1"},
        )
        assert answer.status_code == 200, answer.text
        spans = otlp.trace(trace_id, 5)
    names = by_name(spans)
    assert sorted(names) == sorted(["request", *PHASES]), [s.name for s in spans]
    request = names["request"]
    assert request.parent_span_id == parent_id and request.kind == SERVER_KIND
    assert request.name == "request /v2/models/{name}/infer"
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["http.route"] == "/v2/models/{name}/infer"
    assert request.resource["service.name"] == "shipyard"
    for phase in PHASES:
        span = names[phase]
        assert span.parent_span_id == request.span_id, phase
        assert span.attributes["shipyard.model"] == "lr"
        assert span.attributes["shipyard.model.version"] == 1
        assert span.attributes["shipyard.request_id"] == "req-trace-1"
        assert span.attributes["shipyard.rows"] == 2
        assert request.start_ns <= span.start_ns <= span.end_ns <= request.end_ns, phase
    # The phases follow one another.
    for before, after in itertools.pairwise(PHASES):
        assert names[before].end_ns <= names[after].start_ns + 1000, (before, after)
    assert request.attributes["shipyard.model"] == "lr"


def test_without_a_traceparent_a_new_trace_starts_and_errors_are_marked(lr_home: Path, otlp: OtlpReceiver) -> None:
    with LiveServer(lr_home, ["lr"], settings=settings(otlp), env=FAST_EXPORT) as server, server.client() as client:
        assert client.post("/v2/models/lr/infer", json=BODY).status_code == 200
        bad = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}
        refused = client.post("/v2/models/lr/infer", json=bad)
        assert refused.status_code in (400, 422)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len([s for s in otlp.all_spans() if s.name.startswith("request")]) < 2:
            time.sleep(0.05)
    requests = [s for s in otlp.all_spans() if s.name.startswith("request")]
    assert len(requests) == 2
    assert all(r.parent_span_id == "" for r in requests)
    assert len({r.trace_id for r in requests}) == 2
    failed = next(r for r in requests if r.attributes["http.response.status_code"] != 200)
    # A refused input ends in validation: no model span in its trace.
    assert [s.name for s in otlp.all_spans() if s.trace_id == failed.trace_id] == [failed.name]


def test_sample_rate_zero_traces_only_what_the_caller_sampled(lr_home: Path, otlp: OtlpReceiver) -> None:
    trace_id = secrets.token_hex(16)
    with (
        LiveServer(lr_home, ["lr"], settings=settings(otlp, "0"), env=FAST_EXPORT) as server,
        server.client() as client,
    ):
        for _ in range(5):
            assert client.post("/v2/models/lr/infer", json=BODY).status_code == 200
        sampled = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        assert client.post("/v2/models/lr/infer", json=BODY, headers=sampled).status_code == 200
        spans = otlp.trace(trace_id, 5)
        time.sleep(0.5)
    assert len(spans) == 5
    assert {s.trace_id for s in otlp.all_spans()} == {trace_id}


def server_lines(server: LiveServer) -> list[dict[str, object]]:
    lines = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_json_logs_carry_the_trace_and_request_ids(lr_home: Path, otlp: OtlpReceiver) -> None:
    trace_id = secrets.token_hex(16)
    with LiveServer(lr_home, ["lr"], settings=settings(otlp), env=FAST_EXPORT) as server, server.client() as client:
        headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "X-Request-Id": "req-log-1"}
        assert client.post("/v2/models/lr/infer", json=BODY, headers=headers).status_code == 200
        # A line logged inside the request (not the access log): a key in the query string.
        refused = client.get("/v2?api_key=oops", headers={**headers, "X-Request-Id": "req-log-2"})
        assert refused.status_code == 401
        spans = otlp.trace(trace_id, 6)
        time.sleep(0.3)
    lines = server_lines(server)
    request_span = next(s for s in spans if s.name.startswith("request /v2/models"))
    access = next(
        line for line in lines if line.get("logger") == "shipyard.access" and line.get("request_id") == "req-log-1"
    )
    assert access["trace_id"] == trace_id and access["span_id"] == request_span.span_id
    warning = next(line for line in lines if "query string" in str(line.get("msg")))
    assert warning["request_id"] == "req-log-2" and warning["trace_id"] == trace_id
    assert warning["level"] == "warning"
    # Lines outside any request carry neither.
    startup = next(line for line in lines if "exporting traces" in str(line.get("msg")))
    assert "request_id" not in startup and "trace_id" not in startup


def test_without_an_endpoint_nothing_is_exported_but_logs_keep_request_ids(lr_home: Path, otlp: OtlpReceiver) -> None:
    with LiveServer(lr_home, ["lr"], settings={"log_mode": "off"}) as server, server.client() as client:
        headers = {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01", "X-Request-Id": "req-off"}
        assert client.post("/v2/models/lr/infer", json=BODY, headers=headers).status_code == 200
        assert client.get("/v2?api_key=oops", headers=headers).status_code == 401
    assert otlp.all_spans() == []
    warning = next(line for line in server_lines(server) if "query string" in str(line.get("msg")))
    assert warning["request_id"] == "req-off" and "trace_id" not in warning
    _ = httpx  # the client above is httpx's


DEPLOYMENT = """\
deployment: lr-live
variants:
  main: {model: lr/1, role: primary}
"""


def test_a_deployments_spans_name_it_and_its_variant(lr_home: Path, otlp: OtlpReceiver) -> None:
    from homes import open_home
    from shipyard.rollout.service import apply_spec

    services = open_home(lr_home)
    try:
        apply_spec(services.store, DEPLOYMENT, actor="user:test", reason="tracing test")
    finally:
        services.close()
    trace_id = secrets.token_hex(16)
    with (
        LiveServer(lr_home, ["lr-live"], settings=settings(otlp), env=FAST_EXPORT) as server,
        server.client() as client,
    ):
        headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "X-Request-Id": "req-dep"}
        answer = client.post("/v2/models/lr-live/infer", json=BODY, headers=headers)
        assert answer.status_code == 200, answer.text
        spans = otlp.trace(trace_id, 5)
    names = by_name(spans)
    for phase in PHASES:
        attributes = names[phase].attributes
        assert attributes["shipyard.deployment"] == "lr-live" and attributes["shipyard.variant"] == "main"
        assert attributes["shipyard.model"] == "lr" and attributes["shipyard.model.version"] == 1
        assert attributes["shipyard.request_id"] == "req-dep"
