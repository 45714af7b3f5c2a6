"""Engines: what runs the chunk scorer over the chunks.

An engine takes the chunks (in input order), a scorer (the runner's: ``chunks.ChunkScorer``,
an Arrow table in and Arrow tables out, then the chunk's part files written) and a ``done``
callback, and must call ``done`` once per chunk, in input order: the journal records a
contiguous prefix of chunks, which is what makes a run resumable. How and where chunks are
scored meanwhile is the engine's business.

- ``local``: this process. The chunks are read here, scored (and their parts written) on a
  pool of threads (the compiled runtime, scikit-learn and Arrow release the GIL while they
  work), and handed to ``done`` in order; at most ``threads + 1`` chunks are held at once.
- ``ray`` (to come, issue 11): the same scorer over Ray Data, ``map_batches`` with
  ``batch_format="pyarrow"`` and one scorer per actor, the results handed to ``done`` in
  block order. Until then it is refused with a one-line reason.
"""

from __future__ import annotations

import importlib.util
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from shipyard.batch import ENGINES, LOCAL, RAY
from shipyard.batch.chunks import ScoredChunk
from shipyard.batch.sources import Chunk
from shipyard.errors import InvalidRequest

Scorer = Callable[[Chunk], ScoredChunk]
Done = Callable[[ScoredChunk], None]


def check_engine(name: str) -> None:
    """Refuse an engine this installation cannot run."""
    if name == LOCAL:
        return
    if name == RAY:
        if importlib.util.find_spec("ray") is None:
            raise InvalidRequest(
                "the Ray engine is not installed: the ray package is not importable here",
                hint="use --engine local (the default); the Ray engine needs ray[data] and comes with issue 11",
            )
        raise InvalidRequest(
            "the Ray engine for batch scoring is not available yet",
            hint="use --engine local (the default); the Ray engine comes with issue 11",
        )
    raise InvalidRequest(f"unknown engine {name!r}", hint=f"use one of {', '.join(ENGINES)}")


class LocalEngine:
    """Scores chunks on a pool of threads in this process, handing them on in order."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)

    def run(self, chunks: Iterator[Chunk], score: Scorer, done: Done) -> None:
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="shipyard-score") as pool:
            pending: deque[Future[ScoredChunk]] = deque()
            try:
                for chunk in chunks:
                    pending.append(pool.submit(score, chunk))
                    while len(pending) > self.threads or (pending and pending[0].done()):
                        done(pending.popleft().result())
                while pending:
                    done(pending.popleft().result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
