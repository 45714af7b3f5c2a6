"""Helpers of the review-queue tests: open tickets in a live server's registry (as the data
plane does, through ``store.reviews.open``), call the review routes, and a real local HTTP
receiver for decision webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from live_server import LiveServer
from shipyard.bootstrap import open_services
from shipyard.config import Settings
from shipyard.governance.keys import parse_token
from shipyard.registry.review_types import NewTicket, Ticket

SECRET = "review-webhook-test-secret"


def subject(token: str) -> str:
    """The caller a key's requests are recorded as (``key:<id>``)."""
    return f"key:{parse_token(token).id}"


def open_ticket(
    home: Path,
    *,
    caller: str,
    model: str = "txt",
    request_id: str = "req-1",
    rows: int = 1,
    timeout: float = 3600.0,
    fallback: Mapping[str, Any] | None = None,
    webhook: str | None = None,
    target: str | None = None,
) -> Ticket:
    """A ticket opened the way the data plane opens one (``store.reviews.open``)."""
    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    try:
        return services.store.reviews.open(
            NewTicket(
                target=target or model,
                model=model,
                version=1,
                deployment=None,
                variant=None,
                request_id=request_id,
                caller=caller,
                key=None,
                reasons=["low_confidence"],
                inputs={"input-0": [0.1] * rows},
                proposed={"predict": ["yes"] * rows, "predict_proba": [[0.45, 0.55]] * rows},
                fallback=fallback,
                timeout_seconds=timeout,
                webhook=webhook,
            )
        )
    finally:
        services.close()


def call(server: LiveServer, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or server.api_key}", **kwargs.pop("headers", {})}
    return httpx.request(method, server.url + path, headers=headers, timeout=30, **kwargs)


class Receiver:
    """A real HTTP server on loopback that keeps what was POSTed to it (headers, body)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outer.received.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.event.set()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float = 20.0) -> tuple[dict[str, str], Any]:
        assert self.event.wait(timeout), "no webhook delivery arrived"
        headers, body = self.received[0]
        return headers, json.loads(body)
