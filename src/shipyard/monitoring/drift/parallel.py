"""Per-column work on a few threads: numpy's sorts and scipy's kernels release the GIL."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def parallel_map(function: Callable[[T], R], items: Sequence[T], threads: int | None = None) -> list[R]:
    """``[function(item) for item in items]`` on up to ``threads`` threads (default: the cores, at most 8)."""
    workers = min(len(items), threads if threads is not None else default_threads())
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
        return list(pool.map(function, items))
