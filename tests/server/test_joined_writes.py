"""A response's header block and body leave in one write; nothing is held past the event-loop
step, reordered, or copied when large."""

from __future__ import annotations

import asyncio

from shipyard.http.connections import HOLD_BYTES, JOIN_BYTES, JoinedWrites


class Recorder:
    """The part of an asyncio transport a response cycle uses, recording each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


async def _joined(*writes: bytes, close: bool = False) -> tuple[Recorder, list[list[bytes]]]:
    """Write ``writes`` in one step; what the transport saw right then, and after the step."""
    transport = Recorder()
    joined = JoinedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    for data in writes:
        joined.write(data)
    if close:
        joined.close()
    during = list(transport.writes)
    await asyncio.sleep(0)
    return transport, [during, list(transport.writes)]


def test_header_and_body_leave_as_one_write() -> None:
    _, (during, after) = asyncio.run(_joined(b"HTTP/1.1 200 OK\r\n\r\n", b'{"ok":1}'))
    assert during == after == [b'HTTP/1.1 200 OK\r\n\r\n{"ok":1}']


def test_a_lone_header_block_leaves_at_the_end_of_the_step() -> None:
    # A streaming response whose first chunk comes later still sends its headers now.
    _, (during, after) = asyncio.run(_joined(b"HTTP/1.1 200 OK\r\n\r\n"))
    assert during == []
    assert after == [b"HTTP/1.1 200 OK\r\n\r\n"]


def test_later_writes_go_straight_through_in_order() -> None:
    _, (during, after) = asyncio.run(_joined(b"head", b"one", b"two", b"three"))
    assert during == after == [b"headone", b"two", b"three"]


def test_a_large_body_is_not_copied_behind_the_header() -> None:
    body = b"x" * (JOIN_BYTES + 1)
    _, (during, after) = asyncio.run(_joined(b"head", body))
    assert during == after == [b"head", body]


def test_a_large_first_write_is_not_held() -> None:
    first = b"y" * (HOLD_BYTES + 1)
    _, (during, after) = asyncio.run(_joined(first))
    assert during == after == [first]


def test_close_sends_what_is_held_first() -> None:
    transport, (during, after) = asyncio.run(_joined(b"HTTP/1.1 408 Request Timeout\r\n\r\n", close=True))
    assert during == after == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"] and transport.closed


def test_everything_else_is_the_transports() -> None:
    async def check() -> None:
        transport = Recorder()
        joined = JoinedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        assert joined.get_extra_info("peername") == "extra:peername"
        assert not joined.is_closing()

    asyncio.run(check())
