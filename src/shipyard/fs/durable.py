"""Files that are either wholly there or not at all, and survive a crash once written.

The pattern: write a hidden temporary file in the target's own directory, fsync it, rename it
over the target (atomic on POSIX within one filesystem), then fsync the directory so the
rename itself is on disk. A reader, or a run resumed after a kill, sees the old file or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` (a rename, a new file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_beside(path: Path) -> Path:
    """A hidden, unused name in ``path``'s directory, for a file renamed onto ``path`` later."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def publish(tmp: Path, path: Path, *, sync_directory: bool = True) -> None:
    """Rename the finished file ``tmp`` onto ``path`` durably (``tmp`` is fsynced first).
    ``sync_directory=False`` leaves the directory's fsync to the caller's next durable write
    in the same directory (one fsync then covers both renames)."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if sync_directory:
        fsync_dir(path.parent)


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably."""
    tmp = temp_beside(path)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        publish(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
