"""The worker processes of one server ask each other to follow a change now.

With ``workers > 1`` a management call (an alias moved, a version retired) reaches one
worker; the others would only see it at their next poll. So that the call can answer once
every worker serves the change, each worker listens on a Unix socket ``<pid>.sock`` in a
directory the parent made for this server (mode 0700: only its user can connect), and the
worker that took the call asks every other one to refresh and waits for their answers, all
at once, for at most ``timeout`` seconds.

One exchange per connection, a JSON line each way: ``{"model": ..., "alias": ...}`` and
``{"problems": [...]}`` (empty when the worker follows). A socket nobody listens on belongs
to a worker that died: it is removed and skipped, since the worker the parent starts in its
place reads the registry as it loads. A worker that does not answer in time is a problem
naming its pid, never a silent success.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024

Handler = Callable[[str | None, str | None], Awaitable[list[str]]]
"""``(model, alias) -> problems``: refresh, then say what does not serve what the registry says."""


class WorkerPeers:
    """This worker's socket in ``directory``, and the way to ask the other workers there."""

    def __init__(self, directory: Path, *, timeout: float) -> None:
        """``timeout``: how long a call waits for the others (the server's request timeout):
        long enough to load and warm a version, short enough that a stuck worker fails the
        call instead of hanging it."""
        self.directory = directory
        self.timeout = timeout
        self._path = directory / f"{os.getpid()}.sock"
        self._server: asyncio.AbstractServer | None = None
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        """Listen for the other workers' requests, answered by ``handler``."""
        self._handler = handler
        self._server = await asyncio.start_unix_server(self._serve, path=str(self._path))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._path.unlink(missing_ok=True)

    async def ask_all(self, model: str | None, alias: str | None) -> tuple[list[str], list[str]]:
        """Ask every other worker to follow now: the problems they report, and the workers
        that could not be asked or did not answer in time."""
        others = [p for p in self.directory.glob("*.sock") if p != self._path]
        answers = await asyncio.gather(*(self._ask(path, model, alias) for path in others))
        reported = [problem for problems, _ in answers for problem in problems]
        silent = [failure for _, failure in answers if failure is not None]
        return reported, silent

    async def _ask(self, path: Path, model: str | None, alias: str | None) -> tuple[list[str], str | None]:
        worker = f"worker {path.stem}"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_MESSAGE)
                writer.write(json.dumps({"model": model, "alias": alias}).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
        except (ConnectionRefusedError, FileNotFoundError):
            # Its process is gone; the parent's replacement reads the registry as it starts.
            await asyncio.to_thread(path.unlink, missing_ok=True)
            logger.info("%s is gone; its replacement reads the registry as it starts", worker)
            return [], None
        except TimeoutError:
            return [], f"{worker} did not answer within {self.timeout:g}s"
        except OSError as exc:
            return [], f"{worker} could not be asked: {exc}"
        finally:
            if writer is not None:
                writer.close()
        try:
            problems = json.loads(line)["problems"]
        except (ValueError, KeyError, TypeError):
            return [], f"{worker} closed without an answer"
        return [f"{worker}: {problem}" for problem in problems], None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request: dict[str, Any] = json.loads(await reader.readline())
            assert self._handler is not None
            problems = await self._handler(_text(request.get("model")), _text(request.get("alias")))
        except Exception as exc:  # answered, so the asking worker names the failure
            logger.exception("refresh asked by another worker failed")
            problems = [f"refresh failed: {type(exc).__name__}: {exc}"]
        try:
            writer.write(json.dumps({"problems": problems}).encode() + b"\n")
            await writer.drain()
        except OSError:
            pass  # the asking worker gave up waiting
        finally:
            writer.close()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
