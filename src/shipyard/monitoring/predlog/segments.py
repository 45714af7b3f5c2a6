"""Segment files: where the prediction log's frames go, and how a dead writer's are recovered.

Layout under ``$SHIPYARD_HOME/predlog``: ``segments/<writer>-<seq:08d>.open`` while a writer
appends to it, renamed to ``.seg`` once sealed (at ``log_segment_bytes``, when older than
``log_compact_seconds`` so that compaction sees the data of a quiet server, and at a clean
shutdown). ``<writer>`` is ``w<pid>-<start unix ms>``. Spill files (``spill/``) use the same
machinery with the suffixes ``.open`` and ``.spill``.

A writer holds an exclusive ``fcntl.flock`` on its open file for as long as it appends. A
new file is created under a hidden temporary name, locked, given the magic and fsynced before
it is renamed into view, so nobody ever sees an unlocked live file. ``recover`` (run at start
by every process) takes the lock non-blocking on every open file: when it gets it, the
writer is dead, and the file's torn tail (a frame cut short by the crash) is cut and the file
sealed. Sealed files' tails are checked too.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from shipyard.fs.durable import fsync_dir
from shipyard.monitoring.predlog.codec import MAGIC, valid_length_of

logger = logging.getLogger(__name__)

OPEN = ".open"
SEALED = ".seg"
SPILLED = ".spill"
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"


def writer_name() -> str:
    """This process's writer name: ``w<pid>-<start unix ms>``."""
    return f"w{os.getpid()}-{int(time.time() * 1000)}"


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LogFile:
    """A file this process appends frames to, locked, durable up to ``size`` after each
    ``append``. On a failed write or fsync it cuts itself back to the last durable length."""

    def __init__(self, directory: Path, stem: str, *, sealed_suffix: str = SEALED) -> None:
        self.directory = directory
        self.path = directory / f"{stem}{OPEN}"
        self.sealed_path = directory / f"{stem}{sealed_suffix}"
        temp = directory / f"{_TEMP_PREFIX}{stem}{_TEMP_SUFFIX}"
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_all(fd, MAGIC)
            os.fsync(fd)
            os.rename(temp, self.path)
            fsync_dir(directory)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        self._fd: int | None = fd
        self.size = len(MAGIC)
        self.created = time.monotonic()
        self.frames = 0

    @property
    def empty(self) -> bool:
        return self.frames == 0

    def append(self, data: bytes, frames: int) -> None:
        """Write ``data`` (whole frames) and fsync. ``OSError`` leaves the file cut back to
        what was durable before (best effort) and the caller should seal or drop it."""
        assert self._fd is not None, "append to a closed log file"
        try:
            _write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError:
            self._cut_back()
            raise
        self.size += len(data)
        self.frames += frames

    def _cut_back(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self.size)
            os.lseek(self._fd, self.size, os.SEEK_SET)
            os.fsync(self._fd)
        except OSError:
            logger.exception("could not cut %s back to its durable length", self.path.name)

    def seal(self) -> Path | None:
        """Rename to the sealed name (or delete when it holds no frame) and release the lock.
        Returns the sealed path, or None."""
        if self._fd is None:
            return None
        fd, self._fd = self._fd, None
        try:
            if self.frames == 0:
                self.path.unlink(missing_ok=True)
                return None
            os.rename(self.path, self.sealed_path)
            fsync_dir(self.directory)
            return self.sealed_path
        finally:
            os.close(fd)

    def abandon(self) -> None:
        """Release the file without sealing (it stays ``.open``; recovery seals it later)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Recovery:
    sealed: int = 0
    """Dead writers' open files sealed."""
    removed: int = 0
    """Files holding no frame, removed."""
    cut_bytes: int = 0
    """Bytes of torn tails cut."""
    corrupt: int = 0
    """Files not even starting with the magic, renamed ``.corrupt`` for inspection."""


def recover(directory: Path, *, sealed_suffix: str = SEALED) -> Recovery:
    """Seal the open files of dead writers in ``directory`` (cutting their torn tails) and cut
    torn tails off sealed files. Safe to run from several processes at once."""
    report = Recovery()
    if not directory.is_dir():
        return report
    for path in sorted(directory.iterdir()):
        name = path.name
        if name.endswith(OPEN) or (name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)):
            _recover_open(path, sealed_suffix, report)
        elif name.endswith(sealed_suffix):
            _check_sealed(path, report)
    if report.sealed or report.removed or report.cut_bytes or report.corrupt:
        fsync_dir(directory)
        logger.warning(
            "prediction log recovery in %s: %d file(s) sealed, %d removed, %d torn byte(s) cut, %d corrupt",
            directory.name,
            report.sealed,
            report.removed,
            report.cut_bytes,
            report.corrupt,
        )
    return report


def _recover_open(path: Path, sealed_suffix: str, report: Recovery) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return  # its writer is alive
            raise
        if not _same_file(path, fd):
            return  # sealed by another recovery between our open and our lock
        if path.name.endswith(_TEMP_SUFFIX):
            path.unlink(missing_ok=True)
            report.removed += 1
            return
        data = _read_fd(fd)
        valid = valid_length_of(data)
        if valid == 0:
            os.rename(path, path.with_name(path.name + ".corrupt"))
            report.corrupt += 1
            return
        if valid < len(data):
            os.ftruncate(fd, valid)
            os.fsync(fd)
            report.cut_bytes += len(data) - valid
        if valid <= len(MAGIC):
            path.unlink()
            report.removed += 1
            return
        os.rename(path, path.with_name(path.name[: -len(OPEN)] + sealed_suffix))
        report.sealed += 1
    finally:
        os.close(fd)


def _check_sealed(path: Path, report: Recovery) -> None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        data = _read_fd(fd)
        valid = valid_length_of(data)
        if valid == len(data):
            return
        if valid == 0:
            os.rename(path, path.with_name(path.name + ".corrupt"))
            report.corrupt += 1
            return
        os.ftruncate(fd, valid)
        os.fsync(fd)
        report.cut_bytes += len(data) - valid
    finally:
        os.close(fd)


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def lock_for_replay(path: Path) -> int | None:
    """An fd of ``path`` under an exclusive lock, or None when another process holds it or it
    is gone (someone replayed it already). The caller closes the fd."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not _same_file(path, fd):
        os.close(fd)
        return None
    return fd


def read_locked(fd: int) -> bytes:
    return _read_fd(fd)
