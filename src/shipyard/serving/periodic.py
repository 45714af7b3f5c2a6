"""A coroutine run every few seconds on the event loop until stopped (the telemetry flush,
the rollout analyses): one failure is logged and the next run goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class Periodic:
    """``Periodic("flush", 1.0, flush).start()``; ``await periodic.stop()``."""

    def __init__(self, name: str, seconds: float, step: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.seconds = seconds
        self._step = step
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"shipyard-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self._step()
            except Exception:
                logger.exception("%s failed; retrying in %.1fs", self.name, self.seconds)
