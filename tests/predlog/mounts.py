"""Real filesystems mounted by a test (as root): a size-limited tmpfs for a sink that fills up,
and a loop-mounted ext4 image that ``fsfreeze`` can freeze, for a sink that stalls."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``directory`` for the block; skips the test when mounting
    is not permitted here (not root, or no CAP_SYS_ADMIN in this container)."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path, name: str = "filler") -> Path:
    """Fill the filesystem of ``directory`` to the last byte; returns the filler file."""
    path = directory / name
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


def _mount(args: list[str], what: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting {what} is not permitted here: {done.stderr.strip()}")


@contextlib.contextmanager
def freezable_disk(directory: Path, image: Path, size_mb: int = 16) -> Iterator[Path]:
    """A small ext4 image loop-mounted on ``directory``; skips when loop mounts are not
    permitted. Use ``frozen`` to stall every write to it."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("loop-mounting an ext4 image needs root")
    with image.open("wb") as out:
        out.truncate(size_mb * 1024**2)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 is not available: {made.stderr.strip()}")
    _mount(["-o", "loop", str(image), str(directory)], "a loop device")
    try:
        yield directory
    finally:
        subprocess.run(["fsfreeze", "-u", str(directory)], capture_output=True, check=False)
        subprocess.run(["umount", str(directory)], check=False)


@contextlib.contextmanager
def frozen(directory: Path) -> Iterator[None]:
    """Every write to the filesystem mounted on ``directory`` blocks until the block ends."""
    done = subprocess.run(["fsfreeze", "-f", str(directory)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"fsfreeze is not permitted here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["fsfreeze", "-u", str(directory)], check=True)
