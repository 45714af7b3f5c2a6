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

A reference that is a bare name of a live deployment (``rollout``) serves the deployment
instead (``serving/deployments.ServedDeployment``): every variant gets a slot of its own
(not reachable by its model's name, so only the deployment's name is served), and the same
watcher polls the deployment's current revision. A new revision loads its new variants
first (slots whose reference did not change are carried over), then replaces the
deployment in one dict assignment and retires the slots it no longer uses; a revision that
fails to load leaves the previous one serving and is retried after ``retry_seconds``.

The same watcher reads, in one query per poll, the lifecycle of every version of the served
models (``registry/sql/lifecycle``): each served version's ``VersionNotice`` is updated in
place (deprecation headers; a retired version answers 410 from then on), and a retired
version that is not served answers 410 rather than 404.

A management call that changes what is served calls :meth:`ModelManager.follow`: this
worker refreshes and, with several workers, asks the others to (``serving/peers``), so the
call answers only once every worker serves the change, or says which did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shipyard.compile import runtime_statement
from shipyard.config import Settings
from shipyard.errors import ModelLoadError, ModelNotFound, NotFound, ShipyardError, Unavailable, VersionNotFound
from shipyard.flavors.base import LoadedModel
from shipyard.registry.deployment_types import DeploymentRevision
from shipyard.registry.lifecycle import gone
from shipyard.registry.refs import ModelRef
from shipyard.registry.service import RegistryService, warm_up
from shipyard.registry.types import RETIRED, ModelVersion, VersionLifecycle
from shipyard.rollout.spec import DeploymentSpec
from shipyard.rollout.split import Splitter
from shipyard.serving.batching import Batcher, BatchPolicy
from shipyard.serving.deployments import ServedDeployment
from shipyard.serving.events import BatchRecord, ModelStateObserver, notify_batch
from shipyard.serving.notices import VersionNotice
from shipyard.serving.peers import WorkerPeers
from shipyard.serving.slots import ServedVersion, Slot

# ServedVersion and Slot live in serving/slots; the data plane, shadows, failover and the
# HTTP state import them from here.
__all__ = ["ModelManager", "ServedVersion", "Slot"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
        self._deployments: dict[str, ServedDeployment] = {}
        self._names: list[str] = []
        # deployment name -> (revision that failed to load, when)
        self._revision_failures: dict[str, tuple[int, float]] = {}
        self._deleted_warned: set[str] = set()
        # Deployments that took over the name of a model served here after start-up.
        self._adopted: set[str] = set()
        # Loads get their own thread so a slow load never takes an inference thread.
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-load")
        # Every model call of every version runs here: bounded whatever the load.
        self._inference = ThreadPoolExecutor(
            max_workers=self._settings.inference_threads, thread_name_prefix="shipyard-infer"
        )
        self._retired: list[Batcher] = []
        # (name, version) -> lifecycle of retired versions of served models (for 410, not 404)
        self._gone: dict[tuple[str, int], VersionLifecycle] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        # Versions loaded for another's sake (targets' fallback models), by reference text.
        self._side: dict[str, Slot] = {}
        self._peers: WorkerPeers | None = None
        self._started = False
        self._refresh_after_start = False
        self.ready = False

    def join_peers(self, peers: WorkerPeers) -> None:
        """Before :meth:`start`: the other workers of this server, asked by :meth:`follow`."""
        self._peers = peers

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, refs: Sequence[ModelRef]) -> None:
        """Load every reference; raise if any cannot be served (nothing half-started)."""
        if self._peers is not None:
            # Listening before loading: a change made while this worker loads is re-read below.
            await self._peers.start(self._follow_here)
        for ref in refs:
            if ref.is_latest:
                revision = await self._in_loader(self._live_revision, ref.name)
                if revision is not None:
                    self._deployments[ref.name] = await self._load_deployment(revision, None)
                    self._names.append(ref.name)
                    continue
            slot = Slot(ref)
            record = await self._in_loader(self._service.store.resolve, ref)
            slot.current = await self._load(slot.name, record)
            self._slots.append(slot)
            self._by_name.setdefault(slot.name, []).append(slot)
            if slot.name not in self._names:
                self._names.append(slot.name)
        if self._deployments or self._slots:
            # Aliases, deployments, and every served version's lifecycle.
            self._watcher = asyncio.create_task(self._watch(), name="shipyard-alias-watcher")
            await self._refresh_lifecycle()
        self._started = True
        if self._refresh_after_start:
            await self.refresh()
        self.ready = True

    async def close(self) -> None:
        self.ready = False
        if self._peers is not None:
            self._peers.close()
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
        if not slots or (version is None and name in self._deployments):
            deployment = self._deployments.get(name)
            if deployment is not None:
                return deployment.resolve(version)
            raise ModelNotFound(
                f"model {name!r} is not served here", hint="GET /v1/models or POST /v2/repository/index lists them"
            )
        if version is None:
            current = slots[0].current
            assert current is not None
            if current.notice.retired:
                raise current.notice.gone()
            return current
        for slot in slots:
            if slot.current is not None and slot.current.version == version:
                if slot.current.notice.retired:
                    raise slot.current.notice.gone()
                return slot.current
        retired = self._gone.get((name, version))
        if retired is not None:
            raise gone(retired.ref, retired.successor, archived=retired.archived)
        serving = ", ".join(str(s.current.version) for s in slots if s.current is not None)
        raise VersionNotFound(f"version {version} of model {name!r} is not served here (serving {serving})")

    def deployment(self, name: str) -> ServedDeployment | None:
        """The deployment served as ``name`` (its current revision), else None: one dict
        lookup, the only per-request cost a plain model pays for deployments."""
        return self._deployments.get(name)

    def names(self) -> list[str]:
        """The served names (models and deployments), in the order they were given."""
        return list(self._names)

    def slots_for(self, name: str) -> list[Slot]:
        deployment = self._deployments.get(name)
        if deployment is not None:
            return deployment.model_slots()
        return list(self._by_name.get(name, ()))

    # -- side versions (fallback models) ---------------------------------------------------
    async def side(self, ref: ModelRef) -> ServedVersion:
        """``ref`` loaded for another's sake (a target's fallback model): followed like any
        slot (aliases, lifecycle) and closed with them, but never served under its name."""
        slot = self._side.get(str(ref))
        if slot is not None and slot.current is not None:
            return slot.current
        slot = Slot(ref)
        record = await self._in_loader(self._service.store.resolve, ref)
        slot.current = await self._load(ref.name, record)
        self._side[str(ref)] = slot
        self._slots.append(slot)
        return slot.current

    def side_version(self, ref: ModelRef) -> ServedVersion | None:
        """The version loaded for ``ref`` by :meth:`side`, if any (a dict lookup)."""
        slot = self._side.get(str(ref))
        return slot.current if slot is not None else None

    # -- following aliases ---------------------------------------------------------------
    async def follow(self, change: str, model: str | None = None, alias: str | None = None) -> None:
        """Refresh now, here and in every other worker of this server, at once. Raises,
        naming the workers and why, unless every worker's slots of ``model@alias`` serve
        the alias's version: ``ModelLoadError`` when one could not load it, ``Unavailable``
        when a worker did not answer in time. ``change`` (what the caller did) opens the message."""
        silent: list[str] = []
        if self._peers is None:
            lagging = await self._follow_here(model, alias)
        else:
            here, (there, silent) = await asyncio.gather(
                self._follow_here(model, alias), self._peers.ask_all(model, alias)
            )
            lagging = [f"worker {os.getpid()}: {problem}" for problem in here] + there
        if not lagging and not silent:
            return
        message = f"{change}, but not every worker follows: {'; '.join(lagging + silent)}"[:2000]
        hint = (
            "the change is stored; a worker that did not follow keeps its version and retries "
            f"within {self._retry_seconds:g}s (or at its next poll)"
        )
        raise (ModelLoadError if lagging else Unavailable)(message, hint=hint)

    async def _follow_here(self, model: str | None, alias: str | None) -> list[str]:
        if not self._started:
            # Still loading, so not answering requests yet: it refreshes before it does.
            self._refresh_after_start = True
            return []
        chosen = [s for s in self._slots if s.ref.follows_alias and s.name == model and s.ref.alias == alias]
        for slot in chosen:
            slot.failures.clear()  # an explicit move tries again at once
        await self.refresh()
        return [f"{slot.ref} {slot.lag}" for slot in chosen if slot.lag is not None]

    async def refresh(self) -> None:
        """Check every alias slot and every deployment's revision now; swap in what moved."""
        async with self._refresh_lock:
            for slot in list(self._slots):
                if slot.ref.follows_alias:
                    await self._refresh_slot(slot)
            for name in list(self._deployments):
                await self._refresh_deployment(name)
            await self._adopt_deployments()
            await self._refresh_lifecycle()

    async def _adopt_deployments(self) -> None:
        """A deployment applied under the name of a model served here answers that name's
        unversioned routes from now on (clients keep their URL when a canary arrives); when
        it is deleted, the model answers again. One query per poll."""
        if not self._by_name:
            return
        try:
            live = {d.name for d in await self._in_loader(self._service.store.deployments.list)}
        except ShipyardError as exc:
            logger.warning("cannot list deployments: %s", exc)
            return
        for name in self._by_name:
            if name in live and name not in self._deployments:
                failed = self._revision_failures.get(name)
                if failed is not None and time.monotonic() - failed[1] < self._retry_seconds:
                    continue
                revision = await self._in_loader(self._live_revision, name)
                if revision is None:
                    continue
                try:
                    self._deployments[name] = await self._load_deployment(revision, None)
                except ShipyardError as exc:
                    self._revision_failures[name] = (revision.revision, time.monotonic())
                    logger.error("deployment %s cannot load; model %s keeps answering: %s", name, name, exc)
                    continue
                self._adopted.add(name)
                logger.info("deployment %s (revision %d) now answers %s", name, revision.revision, name)
            elif name in self._adopted and name not in live:
                served = self._deployments.pop(name)
                self._adopted.discard(name)
                for slot in {id(s): s for s in served.slots.values()}.values():
                    self._slots = [s for s in self._slots if s is not slot]
                    if slot.current is not None:
                        self._retire(slot.current)
                logger.info("deployment %s was deleted; model %s answers its name again", name, name)

    async def _refresh_lifecycle(self) -> None:
        """Read the lifecycle of the served models' versions (one query) and update every
        served version's notice in place."""
        names = {slot.name for slot in self._slots}
        try:
            states = await self._in_loader(self._service.store.lifecycle.states, names)
        except ShipyardError as exc:
            logger.warning("cannot read version lifecycles: %s", exc)
            return
        for slot in self._slots:
            served = slot.current
            if served is None:
                continue
            state = states.get((served.name, served.version))
            was_retired = served.notice.retired
            served.notice.update(state)
            if served.notice.retired and not was_retired:
                logger.warning("%s was retired while served: it answers 410 now", served.record.ref)
        self._gone = {key: state for key, state in states.items() if state.state == RETIRED}

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
            slot.lag = f"serves version {slot.current.version}: cannot read its aliases: {exc}"
            return
        target = aliases.get(slot.ref.alias)
        slot.lag = None
        if target is None or target == slot.current.version:
            return
        failed = slot.failures.get(target)
        if failed is not None and time.monotonic() - failed[0] < self._retry_seconds:
            slot.lag = f"serves version {slot.current.version}: version {target} failed to load: {failed[1]}"
            return
        old_served = slot.current
        old = old_served.version
        logger.info("alias %s moved %d -> %d; loading the new version", slot.ref, old, target)
        try:
            record = await self._in_loader(self._service.store.get_version, slot.name, target)
            new = await self._load(slot.name, record)
        except ShipyardError as exc:
            slot.failures[target] = (time.monotonic(), str(exc))
            slot.lag = f"serves version {old}: version {target} failed to load: {exc}"
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

    # -- deployments ---------------------------------------------------------------------
    def _live_revision(self, name: str) -> DeploymentRevision | None:
        """The current revision of the live deployment ``name``, or None (no such deployment,
        or deleted). Runs on the loader thread."""
        try:
            deployment, revision = self._service.store.deployments.current(name)
        except NotFound:
            return None
        return None if deployment.state == "deleted" else revision

    async def _load_deployment(
        self, revision: DeploymentRevision, previous: ServedDeployment | None
    ) -> ServedDeployment:
        """``revision`` with every variant loaded (slots of ``previous`` whose reference is
        unchanged are reused). Raises, having released what it loaded, if a variant cannot load."""
        name = revision.deployment
        spec = DeploymentSpec.from_dict(
            json.loads(revision.spec_json), source=f"deployment {name!r} revision {revision.revision}"
        )
        reusable: dict[str, Slot] = {}
        if previous is not None:
            for slot in previous.slots.values():
                if slot.current is not None:
                    reusable[str(slot.ref)] = slot
        slots: dict[str, Slot] = {}
        fresh: list[Slot] = []
        try:
            for variant_name, variant in spec.variants.items():
                ref = variant.ref
                existing = reusable.get(str(ref))
                if existing is None:
                    existing = Slot(ref)
                    record = await self._in_loader(self._service.store.resolve, ref)
                    existing.current = await self._load(ref.name, record)
                    fresh.append(existing)
                    reusable[str(ref)] = existing
                slots[variant_name] = existing
        except BaseException:
            for slot in fresh:
                if slot.current is not None:
                    self._retire(slot.current)
            raise
        self._slots.extend(fresh)
        return ServedDeployment(name=name, revision=revision.revision, spec=spec, splitter=Splitter(spec), slots=slots)

    async def _refresh_deployment(self, name: str) -> None:
        served = self._deployments[name]
        try:
            record = await self._in_loader(self._service.store.deployments.get, name)
        except ShipyardError as exc:
            logger.warning("cannot read deployment %s: %s", name, exc)
            return
        if record.state == "deleted":
            if name in self._adopted:
                return  # the model of the same name takes over again (_adopt_deployments)
            if name not in self._deleted_warned:
                self._deleted_warned.add(name)
                logger.warning(
                    "deployment %s was deleted; revision %d keeps serving until restart", name, served.revision
                )
            return
        self._deleted_warned.discard(name)
        target = record.current_revision
        if target == served.revision:
            return
        failed = self._revision_failures.get(name)
        if failed is not None and failed[0] == target and time.monotonic() - failed[1] < self._retry_seconds:
            return
        logger.info("deployment %s moved to revision %d (was %d); loading it", name, target, served.revision)
        try:
            revision = await self._in_loader(self._service.store.deployments.revision, name, target)
            new = await self._load_deployment(revision, served)
        except ShipyardError as exc:
            self._revision_failures[name] = (target, time.monotonic())
            logger.error(
                "revision %d of deployment %s failed to load; revision %d keeps serving: %s",
                target, name, served.revision, exc,
            )  # fmt: skip
            return
        self._deployments[name] = new
        self._revision_failures.pop(name, None)
        kept = {id(slot) for slot in new.slots.values()}
        dropped = {id(slot): slot for slot in served.slots.values() if id(slot) not in kept}
        if dropped:
            self._slots = [slot for slot in self._slots if id(slot) not in dropped]
            for slot in dropped.values():
                if slot.current is not None:
                    # Requests that chose this variant finish on it; then its dispatcher stops.
                    self._retire(slot.current)
                    self._notify(slot.name, slot.current.version, "retired")
        logger.info("deployment %s now serves revision %d", name, target)

    def _retire(self, served: ServedVersion) -> None:
        served.batcher.retire()
        self._retired = [b for b in self._retired if b.active] + [served.batcher]

    # -- loading -------------------------------------------------------------------------
    async def _load(self, name: str, record: ModelVersion) -> ServedVersion:
        self._notify(name, record.version, "loading")
        began = time.monotonic()
        try:
            model = await self._in_loader(self._load_and_warm, record)
        except ShipyardError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load {record.ref}: {type(exc).__name__}: {exc}"[:500]) from exc
        self._notify(name, record.version, "ready")
        logger.info(
            "loaded %s (%s, %s) in %.1fs", record.ref, record.flavor, self._runtime(record), time.monotonic() - began
        )
        batcher = Batcher(
            model,
            ref=record.ref,
            name=name,
            version=record.version,
            policy=BatchPolicy.from_settings(self._settings, name),
            executor=self._inference,
            on_batch=self._on_batch,
        )
        return ServedVersion(
            name=name, record=record, model=model, loaded_at=time.time(), batcher=batcher,
            notice=VersionNotice.of(record.lifecycle_state),
        )  # fmt: skip

    def _on_batch(self, record: BatchRecord) -> None:
        notify_batch(self._observers, record)

    def _runtime(self, record: ModelVersion) -> str:
        """Which form serves ``record``, and why, in a few words."""
        if self._settings.runtime != "auto":
            return f"{self._settings.runtime} runtime, as --runtime says"
        return "runtime " + runtime_statement(record.serving_runtime, record.compile_error, None)

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
