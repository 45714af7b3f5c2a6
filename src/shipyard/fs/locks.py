"""One process at a time: a non-blocking exclusive lock on a file (``filelock``).

Used where several server workers run the same periodic job (compaction, the monitor) and
only one should do it at a time; the others skip their turn instead of waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


@contextlib.contextmanager
def held_exclusively(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` and yield True, or yield False at once when another
    process (or another thread of this one) holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0, mode=0o600, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
