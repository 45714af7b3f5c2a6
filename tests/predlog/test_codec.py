"""The frame format: round trips, and torn or corrupt tails found wherever they start."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest

from shipyard.monitoring.predlog.codec import MAGIC, encode_frame, iter_frames, valid_length, valid_length_of


def _log(payloads: list[bytes]) -> tuple[bytes, list[int]]:
    """A log's bytes and the end offset of each frame."""
    data = bytearray(MAGIC)
    ends = []
    for payload in payloads:
        data += encode_frame(payload)
        ends.append(len(data))
    return bytes(data), ends


def _payloads(rng: random.Random, n: int) -> list[bytes]:
    return [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))) for _ in range(n)]


def test_round_trip_from_bytes_and_path(tmp_path: Path) -> None:
    payloads = [b"", b"x", b'{"v":1}', bytes(range(256)) * 40]
    data, ends = _log(payloads)
    path = tmp_path / "a.seg"
    path.write_bytes(data)
    assert [p for _, p in iter_frames(data)] == payloads
    assert [p for _, p in iter_frames(path)] == payloads
    assert [o for o, _ in iter_frames(path)] == [len(MAGIC), *ends[:-1]]
    assert valid_length(path) == len(data)


def test_frame_layout_is_length_crc_payload() -> None:
    frame = encode_frame(b"hello")
    assert frame[:8] == struct.pack("<II", 5, zlib.crc32(b"hello"))
    assert frame[8:] == b"hello"


def test_iter_frames_can_start_mid_file() -> None:
    data, ends = _log([b"one", b"two", b"three"])
    assert [p for _, p in iter_frames(data, start=ends[0])] == [b"two", b"three"]


@pytest.mark.parametrize("seed", range(5))
def test_every_truncation_keeps_exactly_the_whole_frames(seed: int) -> None:
    rng = random.Random(seed)
    payloads = _payloads(rng, 12)
    data, ends = _log(payloads)
    for cut in range(len(data) + 1):
        torn = data[:cut]
        whole = [e for e in ends if e <= cut]
        expected = whole[-1] if whole else (len(MAGIC) if cut >= len(MAGIC) else 0)
        assert valid_length_of(torn) == expected, cut
        assert [p for _, p in iter_frames(torn)] == payloads[: len(whole)]


@pytest.mark.parametrize("seed", range(5))
def test_random_corruption_ends_the_valid_part_at_the_damaged_frame(seed: int) -> None:
    rng = random.Random(100 + seed)
    payloads = _payloads(rng, 10)
    data, ends = _log(payloads)
    starts = [len(MAGIC), *ends[:-1]]
    for _ in range(200):
        position = rng.randrange(len(MAGIC), len(data))
        damaged = bytearray(data)
        damaged[position] ^= 1 << rng.randrange(8)
        frame = max(i for i, s in enumerate(starts) if s <= position)
        got = [p for _, p in iter_frames(bytes(damaged))]
        # Frames before the damaged one are intact; it and all after it are cut.
        assert got == payloads[:frame], (position, frame, len(got))
        assert valid_length_of(bytes(damaged)) == starts[frame]


def test_garbage_appended_after_valid_frames_is_a_torn_tail() -> None:
    data, _ = _log([b"a", b"b"])
    for garbage in (b"\x00", b"\xff" * 7, struct.pack("<II", 3, 0) + b"abc", struct.pack("<II", 2**31, 0)):
        assert valid_length_of(data + garbage) == len(data)
        assert [p for _, p in iter_frames(data + garbage)] == [b"a", b"b"]


def test_a_file_without_the_magic_has_no_valid_part(tmp_path: Path) -> None:
    path = tmp_path / "x.seg"
    path.write_bytes(b"SHIPLOG2" + encode_frame(b"a"))
    assert valid_length(path) == 0
    assert list(iter_frames(path)) == []
    path.write_bytes(b"SHIP")
    assert valid_length(path) == 0
    path.write_bytes(b"")
    assert valid_length(path) == 0
