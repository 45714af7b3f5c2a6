"""Slow and idle clients: header and body read timeouts, the connection limit and the
per-connection request cap, against a real server process."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from pathlib import Path

import httpx
import pytest

from live_server import LiveServer

HALF_HEADER = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
HALF_BODY = b"POST /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500


def _connect(port: int, payload: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if payload:
        sock.sendall(payload)
    return sock


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (or the timeout)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        return data
    except TimeoutError as exc:
        raise AssertionError(f"the server kept the connection open; got {data[:200]!r}") from exc
    return data


def _health_seconds(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(url + "/v2/health/live", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def test_half_sent_requests_are_timed_out_while_health_answers(home: Path) -> None:
    settings = {"header_timeout_seconds": "2", "body_timeout_seconds": "2", "access_log": "false"}
    with LiveServer(home, [], settings=settings) as server:
        opened = time.monotonic()
        headers = [_connect(server.port, HALF_HEADER) for _ in range(250)]
        bodies = [_connect(server.port, HALF_BODY) for _ in range(250)]
        silent = [_connect(server.port, b"") for _ in range(5)]
        try:
            assert time.monotonic() - opened < 1.8, "opening the sockets took too long for the test to mean anything"
            assert _health_seconds(server.url) < 1.0
            time.sleep(0.3)
            assert _health_seconds(server.url) < 1.0
            for sock in headers:
                data = _read_until_closed(sock, timeout=10)
                assert data.startswith(b"HTTP/1.1 408 "), data[:200]
                assert b'"code":"request_timeout"' in data
            for sock in bodies:
                data = _read_until_closed(sock, timeout=10)
                # 408, or the route's own early answer followed by the close.
                assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:200]
            for sock in silent:
                assert _read_until_closed(sock, timeout=10).startswith(b"HTTP/1.1 408 ")
            elapsed = time.monotonic() - opened
            assert elapsed >= 1.5, f"closed after {elapsed:.1f}s, before the 2s timeout"
            assert _health_seconds(server.url) < 1.0
        finally:
            for sock in headers + bodies + silent:
                sock.close()


def test_trickled_header_is_not_extended_by_each_byte(home: Path) -> None:
    with LiveServer(home, [], settings={"header_timeout_seconds": "1.5"}) as server:
        sock = _connect(server.port, b"GET /v2/health/live HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            sock.settimeout(0.3)
            data = b""
            while time.monotonic() - started < 6:
                try:
                    sock.sendall(b"X-A: b\r\n")
                except OSError:
                    break
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    break
                data += chunk
                if not chunk:
                    break
            assert data.startswith(b"HTTP/1.1 408 "), data[:200]
            assert time.monotonic() - started < 3
        finally:
            sock.close()


def test_keep_alive_connection_serves_several_requests_then_idles_out(home: Path) -> None:
    with LiveServer(home, [], settings={"header_timeout_seconds": "1"}) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            for _ in range(5):
                conn.request("GET", "/v2/health/live")
                response = conn.getresponse()
                assert response.status == 200
                response.read()
                assert not response.will_close
                time.sleep(0.3)  # pauses between requests shorter than the timeout are fine
            # Idle past the timeout: closed quietly (no unsolicited 408 on an idle keep-alive).
            assert conn.sock is not None
            assert _read_until_closed(conn.sock, timeout=5) == b""
        finally:
            conn.close()


def test_request_cap_closes_the_connection(home: Path) -> None:
    with LiveServer(home, [], settings={"max_requests_per_connection": "3"}) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            closes = []
            for _ in range(3):
                conn.request("GET", "/v2/health/live")
                response = conn.getresponse()
                assert response.status == 200
                response.read()
                closes.append(response.will_close)
            assert closes == [False, False, True]
            assert response.getheader("connection") == "close"
        finally:
            conn.close()


@pytest.mark.parametrize("limit", [4])
def test_connection_limit_answers_503(home: Path, limit: int) -> None:
    with LiveServer(home, [], settings={"max_connections": str(limit)}) as server:
        held = [_connect(server.port, b"") for _ in range(limit)]
        try:
            time.sleep(0.3)
            extra = _connect(server.port, b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = _read_until_closed(extra, timeout=5)
            extra.close()
            assert data.startswith(b"HTTP/1.1 503 "), data[:200]
            assert b'"code":"too_many_connections"' in data
        finally:
            for sock in held:
                sock.close()
        # Once the held connections are gone, new ones are served again.
        deadline = time.monotonic() + 5
        while True:
            try:
                assert httpx.get(server.url + "/v2/health/live", timeout=2).status_code == 200
                break
            except (httpx.TransportError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def test_a_steady_body_outlasts_the_body_timeout_a_trickle_does_not(home: Path) -> None:
    with LiveServer(home, [], settings={"body_timeout_seconds": "1"}) as server:
        size = 600_000
        post = b"POST /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
        steady = _connect(server.port, post % size)
        trickle = _connect(server.port, post % 1000)
        try:
            sent = 0
            started = time.monotonic()
            while sent < size:  # about 200 KB/s for 3 s, over three 1 s windows
                steady.sendall(b"x" * 20_000)
                sent += 20_000
                with contextlib.suppress(OSError):
                    trickle.sendall(b"y")
                time.sleep(0.1)
            assert time.monotonic() - started > 2
            steady.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            steady.settimeout(5)
            data = b""
            while data.count(b"HTTP/1.1 ") < 2:
                chunk = steady.recv(65536)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 405 ")  # the early answer to the POST
            assert b"HTTP/1.1 200 " in data  # and the connection still served the next request
            assert _read_until_closed(trickle, timeout=5).startswith(b"HTTP/1.1 405 ")
        finally:
            steady.close()
            trickle.close()
