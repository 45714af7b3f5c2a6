"""Connection limits uvicorn does not have: header and body read timeouts, a per-connection
request cap and a connection limit per worker.

``protocol_class(limits)`` returns a subclass of uvicorn's httptools protocol (the server
forces that implementation). Each connection owns at most one timer at a time, a
``loop.call_later`` handle kept in the slot uvicorn uses for its keep-alive timer:

- from the connection's opening, and from the end of each response, a *header* timer:
  a request whose headers are not complete in ``header_seconds`` gets 408 and a close (an
  idle keep-alive connection that has sent nothing is just closed, as uvicorn's keep-alive
  timeout did);
- from the end of the headers, while the body is incomplete, a *body* timer: 408 and a
  close, or only the close if the application already started its response. A body that
  keeps arriving at ``MIN_BODY_RATE`` or more over the window gets another window, so a
  large upload on a good link is not cut while a trickle (slowloris) still is.

A request whose headers and body arrive in one read never arms the body timer, so the hot
path costs what uvicorn's keep-alive timer cost: one ``call_later`` and one ``cancel``.

uvicorn writes a response's header block and its body in two ``transport.write`` calls: two
``send`` system calls and two packets, and the client wakes twice. ``JoinedWrites`` holds a
small first write until the next one (the body, in the same event-loop step for an ordinary
response) and sends both as one; whatever is held at the end of the step goes out then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

MIN_BODY_RATE = 64 * 1024
"""Bytes per second a body must average over a ``body_seconds`` window to get another one."""
LINGER_SECONDS = 1.0
"""How long a refused connection keeps reading (and dropping) what the client sends, so the
client reads the 503 instead of a reset."""


@dataclass(frozen=True)
class ConnectionLimits:
    header_seconds: float = 10.0
    body_seconds: float = 30.0
    max_connections: int = 1024
    max_requests: int = 10_000


def _response(status: bytes, code: str, message: str) -> bytes:
    body = b'{"error":"' + message.encode("ascii") + b'","code":"' + code.encode("ascii") + b'"}'
    return b"".join(
        [
            b"HTTP/1.1 ",
            status,
            b"\r\ncontent-type: application/json\r\ncontent-length: ",
            str(len(body)).encode("ascii"),
            b"\r\nconnection: close\r\n\r\n",
            body,
        ]
    )


REQUEST_TIMEOUT = _response(b"408 Request Timeout", "request_timeout", "request not received in time")
TOO_MANY_CONNECTIONS = _response(b"503 Service Unavailable", "too_many_connections", "too many open connections")


class _Refused(asyncio.Protocol):
    """A connection over the limit: answered 503 at once, its input dropped, then closed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport instances, but have its methods.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        transport.write(TOO_MANY_CONNECTIONS)
        if transport.can_write_eof():
            transport.write_eof()
            self._timer = self._loop.call_later(LINGER_SECONDS, transport.close)
        else:  # pragma: no cover - TLS transports
            transport.close()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


HOLD_BYTES = 16 * 1024
"""A first write up to this size (a header block) waits for the next one; larger goes at once."""
JOIN_BYTES = 64 * 1024
"""A held write is copied in front of a next write up to this size, else sent before it."""


class JoinedWrites:
    """A response's transport, as its ``RequestResponseCycle`` sees it: the first small write
    waits for the next (or for the end of the event-loop step, or a close), so a header block
    and its body leave in one ``send``. Every other write goes straight through, in order."""

    __slots__ = ("_first", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= JOIN_BYTES:
                self._transport.write(held + data)
                return
            self._transport.write(held)
        elif self._first and len(data) <= HOLD_BYTES:
            self._first = False  # only a response's first write is held
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._first = False
        self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read timeouts, a request cap and a connection limit."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = self.limits
        self._header_seconds = limits.header_seconds
        self._body_seconds = limits.body_seconds
        # uvicorn arms its keep-alive timer after each response with this delay and calls
        # timeout_keep_alive_handler: that timer is our header timer.
        self.timeout_keep_alive = limits.header_seconds  # type: ignore[assignment]
        self._requests_left = limits.max_requests
        self._in_body = False
        self._body_timer = False
        self._body_received = 0  # bytes of the body in the current body-timer window
        self._idle = False  # True after a response until the next bytes arrive
        self._refused: _Refused | None = None

    # -- connection --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            logger.warning("connection limit (%d) reached: refusing a connection", self.limits.max_connections)
            self.transport = transport
            self._refused = _Refused(self.loop)
            transport.set_protocol(self._refused)
            self._refused.connection_made(transport)
            return
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self._header_seconds, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused is not None:  # pragma: no cover - the transport talks to _Refused
            return
        super().connection_lost(exc)
        self._unset_keepalive_if_required()  # uvicorn leaves it armed after a reset

    def data_received(self, data: bytes) -> None:
        # uvicorn's, minus cancelling the timer on every read: a slow client must not
        # extend its deadline by trickling bytes.
        self._idle = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._unset_keepalive_if_required()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_body:
            if self._body_timer:
                self._body_received += len(data)
            elif not self.transport.is_closing():
                self._arm_body_timer()

    def _arm_body_timer(self) -> None:
        self._unset_keepalive_if_required()
        self._body_timer = True
        self._body_received = 0
        self.timeout_keep_alive_task = self.loop.call_later(self._body_seconds, self.timeout_keep_alive_handler)

    # -- parser callbacks ----------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        handle = self.timeout_keep_alive_task
        if handle is not None:
            handle.cancel()
            self.timeout_keep_alive_task = None
        self._body_timer = False
        self._in_body = True
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not before:  # not an upgrade
            self.cycle.transport = cast(asyncio.Transport, JoinedWrites(self.transport, self.loop))
        self._requests_left -= 1
        if self._requests_left <= 0 and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer:
            self._body_timer = False
            self._unset_keepalive_if_required()
            cycle = self.cycle
            if cycle is not None and cycle.response_complete and not self.transport.is_closing():
                # Answered before its body was read: the connection waits for its next request.
                self._idle = True
                self.timeout_keep_alive_task = self.loop.call_later(
                    self._header_seconds, self.timeout_keep_alive_handler
                )
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn replaces whatever timer is armed with the keep-alive (here: header) timer,
        # or with none when it starts a pipelined request.
        self._idle = True
        self._body_timer = False
        super().on_response_complete()
        if self._in_body and self.timeout_keep_alive_task is None and not self.transport.is_closing():
            self._arm_body_timer()  # a pipelined request still receiving its body

    # -- timers ----------------------------------------------------------------------------------
    def timeout_keep_alive_handler(self) -> None:
        self.timeout_keep_alive_task = None
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if self._in_body and cycle is not None:
            if self._body_timer and self._body_received >= MIN_BODY_RATE * self._body_seconds:
                self._arm_body_timer()  # slow but steady: another window
                return
            logger.info("request body not received within %ss: closing", self._body_seconds)
            started = cycle.response_started
            cycle.disconnected = True  # the application reads http.disconnect from now on
            cycle.message_event.set()
            if not started:
                transport.write(REQUEST_TIMEOUT)
        elif not self._idle:
            logger.info("request headers not received within %ss: closing", self._header_seconds)
            transport.write(REQUEST_TIMEOUT)
        transport.close()


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` bound to ``limits``."""
    return type("ShipyardHttpProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
