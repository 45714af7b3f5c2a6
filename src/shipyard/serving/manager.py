"""Which model versions this process serves, and keeping them current.

Each reference given to ``serve`` becomes a slot. A slot for ``name@alias`` follows the
alias: a watcher polls the registry; when the alias moves, the new version is loaded and
warmed up off the event loop while the old one keeps answering, then the slot's pointer is
swapped in one step. Requests that already hold the old version finish on it. A version
that fails to load leaves the old one serving and is not retried until ``retry_seconds``
have passed or the alias moves again.

Each served version carries its own ``Batcher`` (queue + dispatcher, see ``batching``),
created with it; a swapped-out version's batcher drains what it holds and then stops.
The manager owns the bounded thread pool every model call runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shipyard.config import Settings
from shipyard.errors import ModelLoadError, ModelNotFound, ShipyardError, VersionNotFound
from shipyard.flavors.base import LoadedModel
from shipyard.registry.refs import ModelRef
from shipyard.registry.service import RegistryService, warm_up
from shipyard.registry.types import ModelVersion
from shipyard.schema.signature import Signature
from shipyard.serving.batching import Batcher, BatchPolicy
from shipyard.serving.events import BatchRecord, ModelStateObserver, notify_batch

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class ServedVersion:
    """A loaded, warmed-up model version, immutable once built."""

    name: str
    record: ModelVersion
    model: LoadedModel
    loaded_at: float
    batcher: Batcher = field(compare=False, repr=False)
    """Queues and runs this version's requests (never shared with another version)."""

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def signature(self) -> Signature:
        return self.record.signature


@dataclass
class Slot:
    ref: ModelRef
    current: ServedVersion | None = None
    failures: dict[int, tuple[float, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ref.name


class ModelManager:
    """Loads, warms, swaps and resolves the served model versions."""

    def __init__(
        self,
        service: RegistryService,
        *,
        poll_seconds: float = 1.0,
        retry_seconds: float = 30.0,
        observers: Sequence[ModelStateObserver] = (),
        settings: Settings | None = None,
    ) -> None:
        """``settings`` gives the batching policy (per model) and ``inference_threads``;
        the defaults apply when not given. Observers that also have ``on_batch`` are told
        about every model call (``events.BatchObserver``)."""
        self._service = service
        self._settings = settings or Settings()
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self._observers = tuple(observers)
        self._slots: list[Slot] = []
        self._by_name: dict[str, list[Slot]] = {}
        # Loads get their own thread so a slow load never takes an inference thread.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-load")
        # Every model call of every version runs here: bounded whatever the load.
        self._inference = ThreadPoolExecutor(
            max_workers=self._settings.inference_threads, thread_name_prefix="shipyard-infer"
        )
        self._retired: list[Batcher] = []
        self._watcher: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        self.ready = False

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, refs: Sequence[ModelRef]) -> None:
        """Load every reference; raise if any cannot be served (nothing half-started)."""
        for ref in refs:
            slot = Slot(ref)
            record = await self._in_loader(self._service.store.resolve, ref)
            slot.current = await self._load(slot.name, record)
            self._slots.append(slot)
            self._by_name.setdefault(slot.name, []).append(slot)
        if any(slot.ref.follows_alias for slot in self._slots):
            self._watcher = asyncio.create_task(self._watch(), name="shipyard-alias-watcher")
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        batchers = [s.current.batcher for s in self._slots if s.current is not None] + self._retired
        if batchers:
            # In-flight requests have finished by now (the server drains first); whatever is
            # still queued gets a short grace, then Unavailable.
            await asyncio.gather(*(b.aclose() for b in batchers))
        self._loader.shutdown(wait=False, cancel_futures=True)
        # A model stuck in a call must not hold the process past its graceful timeout.
        self._inference.shutdown(wait=False, cancel_futures=True)

    # -- resolution (the hot path: no I/O) -----------------------------------------------
    def resolve(self, name: str, version: int | None = None) -> ServedVersion:
        """What answers a call to ``name`` (and, if given, exactly ``version``)."""
        slots = self._by_name.get(name)
        if not slots:
            raise ModelNotFound(f"model {name!r} is not served here", hint="GET /v2/models or /v1/models lists them")
        if version is None:
            current = slots[0].current
            assert current is not None
            return current
        for slot in slots:
            if slot.current is not None and slot.current.version == version:
                return slot.current
        serving = ", ".join(str(s.current.version) for s in slots if s.current is not None)
        raise VersionNotFound(f"version {version} of model {name!r} is not served here (serving {serving})")

    def names(self) -> list[str]:
        return list(self._by_name)

    def slots_for(self, name: str) -> list[Slot]:
        return list(self._by_name.get(name, ()))

    # -- following aliases ---------------------------------------------------------------
    async def refresh(self) -> None:
        """Check every alias slot now and swap in moved versions."""
        async with self._refresh_lock:
            for slot in self._slots:
                if slot.ref.follows_alias:
                    await self._refresh_slot(slot)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.refresh()
            except Exception:
                logger.exception("alias watcher failed; retrying in %.1fs", self._poll_seconds)

    async def _refresh_slot(self, slot: Slot) -> None:
        assert slot.ref.alias is not None and slot.current is not None
        try:
            aliases = await self._in_loader(self._service.store.aliases, slot.name)
        except ShipyardError as exc:
            logger.warning("cannot read aliases of %s: %s", slot.name, exc)
            return
        target = aliases.get(slot.ref.alias)
        if target is None or target == slot.current.version:
            return
        failed = slot.failures.get(target)
        if failed is not None and time.monotonic() - failed[0] < self._retry_seconds:
            return
        old_served = slot.current
        old = old_served.version
        logger.info("alias %s moved %d -> %d; loading the new version", slot.ref, old, target)
        try:
            record = await self._in_loader(self._service.store.get_version, slot.name, target)
            new = await self._load(slot.name, record)
        except ShipyardError as exc:
            slot.failures[target] = (time.monotonic(), str(exc))
            logger.error("version %d of %s failed to load; version %d keeps serving: %s", target, slot.name, old, exc)
            self._notify(slot.name, target, "failed")
            return
        slot.current = new
        slot.failures.pop(target, None)
        # Requests that resolved the old version finish on it; then its dispatcher stops.
        old_served.batcher.retire()
        self._retired = [b for b in self._retired if b.active] + [old_served.batcher]
        logger.info("%s now serves version %d (was %d)", slot.ref, target, old)
        self._notify(slot.name, old, "retired")

    # -- loading -------------------------------------------------------------------------
    async def _load(self, name: str, record: ModelVersion) -> ServedVersion:
        self._notify(name, record.version, "loading")
        try:
            model = await self._in_loader(self._load_and_warm, record)
        except ShipyardError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load {record.ref}: {type(exc).__name__}: {exc}"[:500]) from exc
        self._notify(name, record.version, "ready")
        batcher = Batcher(
            model,
            ref=record.ref,
            name=name,
            version=record.version,
            policy=BatchPolicy.from_settings(self._settings, name),
            executor=self._inference,
            on_batch=self._on_batch,
        )
        return ServedVersion(name=name, record=record, model=model, loaded_at=time.time(), batcher=batcher)

    def _on_batch(self, record: BatchRecord) -> None:
        notify_batch(self._observers, record)

    def _load_and_warm(self, record: ModelVersion) -> LoadedModel:
        model = self._service.load_version(record, runtime=self._settings.runtime)
        warm_up(model, record)
        return model

    async def _in_loader(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._loader, fn, *args)

    def _notify(self, name: str, version: int | None, state: str) -> None:
        for observer in self._observers:
            try:
                observer.on_model_state(name, version, state)
            except Exception:
                logger.exception("model state observer failed")
