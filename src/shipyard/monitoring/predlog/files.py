"""Where the prediction log's files are, and which of them a reader sees.

``$SHIPYARD_HOME/predlog/``: ``segments/`` (``<writer>-<seq>.open`` while written, ``.seg``
once sealed), ``spill/`` and ``parquet/target=<target>/day=YYYY-MM-DD/<segment stem>.parquet``.

Compaction (``compact.py``) writes every Parquet part of a segment, then deletes the segment.
So a part is *visible* only once its segment is gone: while the segment exists, its rows are
read from it, never twice and never half. ``Snapshot.take`` lists segments first, then parts;
a segment deleted between that listing and its reading means compaction finished meanwhile,
and the reader takes a new snapshot (``SegmentVanished``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from shipyard.monitoring.predlog.codec import HEADER, MAGIC, iter_frames

LOG_DIR = "predlog"
SEGMENTS = "segments"
SPILL = "spill"
PARQUET = "parquet"
OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".seg"


class SegmentVanished(Exception):
    """A segment listed in a snapshot was deleted (compacted) before it was read."""


def log_dir(home: Path) -> Path:
    return home / LOG_DIR


def target_dir_name(target: str) -> str:
    return "target=" + quote(target, safe="")


@dataclass(frozen=True)
class Part:
    """One compacted Parquet file: its target and day partition, and its source segment."""

    path: Path
    target: str
    day: str
    stem: str


@dataclass(frozen=True)
class Snapshot:
    """The log files a reader uses: open and sealed segments, and the visible parts."""

    open: tuple[Path, ...]
    sealed: tuple[Path, ...]
    parts: tuple[Part, ...]

    @classmethod
    def take(cls, home: Path) -> Snapshot:
        segments = list_segments(home)
        stems = {p.stem for p in segments}
        parts = tuple(p for p in list_parts(home) if p.stem not in stems)
        return cls(
            open=tuple(p for p in segments if p.suffix == OPEN_SUFFIX),
            sealed=tuple(p for p in segments if p.suffix == SEALED_SUFFIX),
            parts=parts,
        )

    @property
    def segments(self) -> tuple[Path, ...]:
        return self.sealed + self.open


def list_segments(home: Path) -> list[Path]:
    """Open and sealed segment files, by name."""
    directory = log_dir(home) / SEGMENTS
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [directory / n for n in names if n.endswith((OPEN_SUFFIX, SEALED_SUFFIX)) and not n.startswith(".")]


def list_spill(home: Path) -> list[Path]:
    directory = log_dir(home) / SPILL
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [directory / n for n in names if not n.startswith(".") and not n.endswith(".tmp")]


def list_parts(home: Path, target: str | None = None) -> list[Part]:
    """Every Parquet part (visible or not), optionally of one target."""
    root = log_dir(home) / PARQUET
    found: list[Part] = []
    try:
        targets = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    wanted = None if target is None else target_dir_name(target)
    for tdir in targets:
        if not tdir.startswith("target=") or (wanted is not None and tdir != wanted):
            continue
        try:
            days = sorted(os.listdir(root / tdir))
        except FileNotFoundError:
            continue
        for ddir in days:
            if not ddir.startswith("day="):
                continue
            try:
                names = sorted(os.listdir(root / tdir / ddir))
            except FileNotFoundError:
                continue
            for name in names:
                if name.endswith(".parquet") and not name.startswith("."):
                    found.append(
                        Part(
                            path=root / tdir / ddir / name,
                            target=unquote(tdir[len("target=") :]),
                            day=ddir[len("day=") :],
                            stem=name[: -len(".parquet")],
                        )
                    )
    return found


def read_payloads(path: Path) -> list[tuple[int, bytes]]:
    """``(offset, payload)`` of every valid frame of a segment (an open one up to its valid
    length: a frame being written is not read); ``SegmentVanished`` if it is gone."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SegmentVanished(str(path)) from exc
    return list(iter_frames(data))


def read_payloads_from(path: Path, start: int) -> tuple[list[tuple[int, bytes]], int]:
    """The valid frames of a log file from byte ``start`` (a frame boundary, or 0 for the
    beginning), with absolute offsets; and the offset where the valid part ends so far."""
    with path.open("rb") as handle:
        if start <= 0:
            data = handle.read()
            if data[: len(MAGIC)] != MAGIC:
                return [], 0
            frames = list(iter_frames(data))
        else:
            handle.seek(start)
            chunk = handle.read()
            frames = [(start + off, payload) for off, payload in iter_frames(chunk, start=0)]
    end = max(start, len(MAGIC))
    if frames:
        last_offset, last = frames[-1]
        end = last_offset + HEADER.size + len(last)
    return frames, end


def read_frame(path: Path, offset: int) -> bytes | None:
    """The payload of the frame at ``offset``, or None when it is not there (any more)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            head = handle.read(HEADER.size)
            if len(head) < HEADER.size:
                return None
            length, _crc = HEADER.unpack(head)
            chunk = head + handle.read(length)
    except FileNotFoundError:
        return None
    frames = list(iter_frames(chunk, start=0))
    return frames[0][1] if frames else None
