"""Scratch directories under ``$SHIPYARD_HOME/tmp``, named by the process that owns them.

Every temporary directory Shipyard makes (uploads, registrations, compilations, extracted
Python-class models, multi-worker metrics) is ``<root>/<kind>-<pid>-<random>``. A process
that ends normally removes its own; one that was killed leaves a directory whose pid is
dead, which the next server start, ``shipyard verify`` and ``shipyard gc`` recognise.

A scratch directory opened with ``lease=True`` is also a *lease*: it holds a ``lease``
file locked (``flock``) for as long as the directory is in use, and the digest of every
blob the artifact store writes (or finds already stored) while it is active is appended
to that file before the blob becomes visible. ``shipyard gc`` never deletes a blob that a
live lease names, and tells a live lease from a dead one by the lock, not the pid.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SCRATCH_DIR = "tmp"
LEASE_FILE = "lease"
_NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<pid>[0-9]+)-[A-Za-z0-9_]+$")
_KIND = re.compile(r"^[a-z]+$")


def scratch_root(home: Path) -> Path:
    """Where scratch directories of ``home`` live (not created)."""
    return Path(home) / SCRATCH_DIR


def _ensure(root: Path) -> Path:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def _prefix(kind: str) -> str:
    if not _KIND.match(kind):
        raise ValueError(f"scratch kind must be lowercase letters, got {kind!r}")
    return f"{kind}-{os.getpid()}-"


def scratch_dir(root: Path | None, kind: str) -> Path:
    """Create ``<root>/<kind>-<pid>-<random>`` (the system temp dir when ``root`` is None)."""
    return Path(tempfile.mkdtemp(prefix=_prefix(kind), dir=_ensure(root) if root is not None else None))


def temporary_directory(root: Path | None, kind: str) -> tempfile.TemporaryDirectory[str]:
    """A ``TemporaryDirectory`` named like ``scratch_dir`` (removed on ``cleanup`` or collection)."""
    return tempfile.TemporaryDirectory(prefix=_prefix(kind), dir=_ensure(root) if root is not None else None)


class Lease:
    """A locked file listing the blob digests one registration has written or relies on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.digests: set[str] = set()

    def note(self, sha256: str) -> None:
        if sha256 not in self.digests:
            os.write(self._fd, f"{sha256}\n".encode("ascii"))
            self.digests.add(sha256)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # drops the lock
            self._fd = -1


_LEASE: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("shipyard_lease", default=None)


def note_blob(sha256: str) -> None:
    """Record ``sha256`` in the active lease, if any (called by the artifact stores)."""
    lease = _LEASE.get()
    if lease is not None:
        lease.note(sha256)


@contextlib.contextmanager
def scratch_directory(root: Path | None, kind: str, *, lease: bool = False) -> Iterator[Path]:
    """A scratch directory for the duration of the block, removed after it; with ``lease``,
    blobs stored inside the block are protected from ``shipyard gc`` until it ends."""
    path = scratch_dir(root, kind)
    held: Lease | None = None
    token = None
    try:
        if lease:
            held = Lease(path / LEASE_FILE)
            token = _LEASE.set(held)
        yield path
    finally:
        if token is not None:
            _LEASE.reset(token)
        if held is not None:
            held.release()
        shutil.rmtree(path, ignore_errors=True)


# -- finding leftovers ------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lease_held(path: Path) -> bool:
    """Whether some open file description holds the lock of the lease at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases the lock if we got it
    return False


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


@dataclass(frozen=True)
class ScratchEntry:
    path: Path
    kind: str
    pid: int
    alive: bool
    """Its owner still runs (for a lease: its lock is held)."""
    lease: bool
    digests: frozenset[str]
    """Blob digests a live lease protects."""
    modified: float
    size: int


def scan(root: Path, kinds: Iterable[str] | None = None) -> list[ScratchEntry]:
    """Every scratch entry under ``root`` named ``<kind>-<pid>-<random>``; others are left alone."""
    wanted = set(kinds) if kinds is not None else None
    entries: list[ScratchEntry] = []
    try:
        children = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return entries
    for child in children:
        match = _NAME.match(child.name)
        if match is None or child.is_symlink():
            continue
        kind, pid = match["kind"], int(match["pid"])
        if wanted is not None and kind not in wanted:
            continue
        lease_path = child / LEASE_FILE
        try:
            has_lease = lease_path.is_file()
            alive = _lease_held(lease_path) if has_lease else pid_alive(pid)
            digests: frozenset[str] = frozenset()
            if has_lease and alive:
                digests = frozenset(line.strip() for line in lease_path.read_text("ascii").splitlines() if line.strip())
            modified = child.stat().st_mtime
            size = _size(child) if not alive else 0
        except OSError:  # removed while we looked
            continue
        entries.append(ScratchEntry(child, kind, pid, alive, has_lease, digests, modified, size))
    return entries


def live_lease_digests(root: Path) -> frozenset[str]:
    """Digests named by the live leases under ``root``."""
    out: set[str] = set()
    for entry in scan(root):
        if entry.lease and entry.alive:
            out |= entry.digests
    return frozenset(out)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale(root: Path, kinds: Iterable[str] | None = None, *, min_age_seconds: float = 0.0) -> list[Path]:
    """Remove the scratch entries whose owner is gone (older than ``min_age_seconds``)."""
    cutoff = time.time() - min_age_seconds
    removed = []
    for entry in scan(root, kinds):
        if not entry.alive and entry.modified <= cutoff:
            remove(entry.path)
            removed.append(entry.path)
    if removed:
        logger.info(
            "removed %d stale scratch director%s from %s", len(removed), "y" if len(removed) == 1 else "ies", root
        )
    return removed


def remove_own(root: Path, kinds: Iterable[str] | None = None) -> list[Path]:
    """Remove this process's scratch entries (before an exit that skips finalizers)."""
    pid = os.getpid()
    removed = []
    for entry in scan(root, kinds):
        if entry.pid == pid:
            remove(entry.path)
            removed.append(entry.path)
    return removed
