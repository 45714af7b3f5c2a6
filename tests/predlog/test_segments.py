"""Segment files: a live writer's file is left alone, a dead writer's is cut and sealed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shipyard.monitoring.predlog.codec import MAGIC, encode_frame, iter_frames, valid_length
from shipyard.monitoring.predlog.segments import SPILLED, LogFile, recover


def _dead_writer(directory: Path, frames: list[bytes], garbage: bytes) -> Path:
    """A real process appends ``frames`` and then ``garbage`` (a torn write) and dies
    without sealing (``os._exit``): its lock goes with it."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from shipyard.monitoring.predlog.segments import LogFile
        from shipyard.monitoring.predlog.codec import encode_frame
        f = LogFile(Path({str(directory)!r}), "wdead-1-00000000")
        for payload in {frames!r}:
            f.append(encode_frame(payload), 1)
        os.write(f._fd, {garbage!r})
        os._exit(9)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    return directory / "wdead-1-00000000.open"


def test_a_dead_writers_torn_tail_is_cut_and_the_file_sealed(tmp_path: Path) -> None:
    path = _dead_writer(tmp_path, [b"one", b"two"], encode_frame(b"three")[:-2])
    assert path.exists() and valid_length(path) < path.stat().st_size
    report = recover(tmp_path)
    assert report.sealed == 1 and report.cut_bytes == len(encode_frame(b"three")) - 2
    sealed = tmp_path / "wdead-1-00000000.seg"
    assert not path.exists() and sealed.exists()
    assert [p for _, p in iter_frames(sealed)] == [b"one", b"two"]
    assert valid_length(sealed) == sealed.stat().st_size
    assert recover(tmp_path).sealed == 0  # idempotent


def test_a_live_writers_file_is_left_alone(tmp_path: Path) -> None:
    live = LogFile(tmp_path, "wlive-1-00000000")
    live.append(encode_frame(b"a"), 1)
    report = recover(tmp_path)
    assert report.sealed == 0
    assert live.path.exists()
    live.append(encode_frame(b"b"), 1)
    assert live.seal() == tmp_path / "wlive-1-00000000.seg"
    assert [p for _, p in iter_frames(tmp_path / "wlive-1-00000000.seg")] == [b"a", b"b"]


def test_a_dead_writers_empty_file_is_removed(tmp_path: Path) -> None:
    path = _dead_writer(tmp_path, [], b"\x01\x02")
    report = recover(tmp_path)
    assert report.removed == 1 and not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_sealed_files_torn_tail_is_cut(tmp_path: Path) -> None:
    sealed = tmp_path / "w1-1-00000000.seg"
    good = MAGIC + encode_frame(b"a") + encode_frame(b"b")
    sealed.write_bytes(good + b"\x09\x00\x00\x00junk")
    report = recover(tmp_path)
    assert report.cut_bytes == 8 and sealed.read_bytes() == good


def test_a_file_without_magic_is_set_aside_not_deleted(tmp_path: Path) -> None:
    bad = tmp_path / "w1-1-00000001.seg"
    bad.write_bytes(b"not a log file at all")
    report = recover(tmp_path)
    assert report.corrupt == 1
    assert (tmp_path / "w1-1-00000001.seg.corrupt").read_bytes() == b"not a log file at all"


def test_spill_files_seal_to_their_own_suffix(tmp_path: Path) -> None:
    _dead_writer(tmp_path, [b"x"], b"")
    recover(tmp_path, sealed_suffix=SPILLED)
    assert [p.name for p in tmp_path.iterdir()] == ["wdead-1-00000000.spill"]


def test_an_empty_file_is_deleted_on_seal(tmp_path: Path) -> None:
    f = LogFile(tmp_path, "w2-2-00000000")
    assert f.seal() is None
    assert list(tmp_path.iterdir()) == []
    assert os.listdir(tmp_path) == []
