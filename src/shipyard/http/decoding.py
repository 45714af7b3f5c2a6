"""Request bodies decoded off the event loop once they are large.

A small body decodes in microseconds, so it is decoded in place (a thread hop would cost
more than the work). A body larger than ``settings.offload_body_bytes`` is decoded on a
worker thread so the event loop keeps answering other requests, health included. Every
decoder also gets ``max_rows``, so it can refuse a body that holds more rows than the server
takes before parsing it (``protocol/bounds``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from shipyard.http.state import app_state

T = TypeVar("T")


async def decode_body(request: Request, decoder: Callable[..., T], body: bytes, **kwargs: Any) -> T:
    """``decoder(body, max_rows=..., **kwargs)``, on a thread when ``body`` is large."""
    settings = app_state(request).services.settings
    if len(body) > settings.offload_body_bytes:
        return await run_in_threadpool(functools.partial(decoder, body, max_rows=settings.max_rows, **kwargs))
    return decoder(body, max_rows=settings.max_rows, **kwargs)
