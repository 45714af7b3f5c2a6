"""Composition root: settings → stores → services → the serving graph. The only place that
wires them up, so that HTTP, a future gRPC front and tests all serve through the same objects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.config import Settings
from shipyard.fs.pii_key import settings_pii_key
from shipyard.fs.scratch import scratch_root
from shipyard.governance.scopes import parse_patterns
from shipyard.governance.signing import Signer, load_public_keys
from shipyard.monitoring.batch_metrics import BatchMetrics
from shipyard.monitoring.guardrail_metrics import GuardrailMetrics
from shipyard.monitoring.inference_stats import InferenceStats
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.monitoring.monitor import FigureMonitor, monitor_from_settings
from shipyard.monitoring.predlog.compact import CompactionTask
from shipyard.monitoring.predlog.record import Privacy
from shipyard.monitoring.predlog.writer import PredictionLog
from shipyard.monitoring.retention import RetentionTask
from shipyard.monitoring.review_metrics import ReviewMetrics
from shipyard.monitoring.review_worker import ReviewWorker
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.factory import open_artifact_store
from shipyard.registry.provenance import Provenance
from shipyard.registry.recorder import AuditRecorder
from shipyard.registry.refs import ModelRef
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.keys import KeyStore
from shipyard.registry.sql.store import RegistryStore
from shipyard.serving.access import KeyAccess
from shipyard.serving.controller import RolloutController
from shipyard.serving.controls_cache import ControlsCache
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.manager import ModelManager
from shipyard.serving.periodic import Periodic
from shipyard.serving.ratelimit import RateLimiter, limiter_from_settings
from shipyard.serving.review_hold import ReviewHold
from shipyard.serving.shadows import ShadowDispatcher
from shipyard.serving.telemetry import RolloutTelemetry


@dataclass
class Services:
    settings: Settings
    store: RegistryStore
    artifacts: ArtifactStore
    registry: RegistryService
    keys: KeyStore
    audit: AuditRecorder
    """The server's audit writer (``record``, ``submit``, rate-limited ``denied``)."""
    signer: Signer

    def close(self) -> None:
        self.audit.close()
        self.store.close()


def open_services(settings: Settings | None = None) -> Services:
    """Open the registry and artifact store named by ``settings`` (read from the environment
    and shipyard.toml when not given), creating ``$SHIPYARD_HOME`` on first use."""
    settings = settings or Settings.load()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    hmac_key = settings.audit_hmac_key.get_secret_value().encode() if settings.audit_hmac_key else None
    store = RegistryStore(settings.resolved_registry_url, audit_hmac_key=hmac_key)
    try:
        artifacts = open_artifact_store(settings)
        signer = Signer.load_or_create(settings.home)
        trusted = load_public_keys(parse_patterns(settings.signing_public_keys))
    except BaseException:
        store.close()
        raise
    provenance = Provenance(signer, trusted=trusted, mode=settings.signing)
    return Services(
        settings=settings,
        store=store,
        artifacts=artifacts,
        registry=RegistryService(store, artifacts, scratch=scratch_root(settings.home), provenance=provenance),
        keys=store.keys,
        audit=AuditRecorder(store.audit),
        signer=signer,
    )


@dataclass
class Serving:
    """What answers requests: the model manager (which names resolve to which loaded
    versions), the data plane (validate, batch, run, observe), metrics, the rate limiter and
    the key checker. Built once per server process by ``build_serving``."""

    metrics: ServingMetrics
    manager: ModelManager
    dataplane: DataPlane
    limiter: RateLimiter
    access: KeyAccess
    telemetry: RolloutTelemetry
    shadows: ShadowDispatcher
    controller: RolloutController
    predlog: PredictionLog | None = None
    """The prediction log's writer (None when ``log_mode`` is ``off``)."""
    compaction: CompactionTask | None = None
    """Sealed log segments → Parquet every ``log_compact_seconds`` (one process at a time)."""
    monitor: FigureMonitor | None = None
    """Figures, gauges and alerts every ``monitor_interval_seconds`` (one process at a time)."""
    reviews: ReviewWorker | None = None
    """Review tickets: expiry, decision webhooks, wait metrics every ``review_poll_seconds``."""
    controls: ControlsCache | None = None
    """Every target's serving controls (``governance/controls``), as last read."""
    controls_task: Periodic | None = None
    """Re-reads the controls (and loads fallback models) every ``alias_poll_seconds``."""
    retention: RetentionTask | None = None
    """Purges data past each target's ``retention_days`` every ``retention_interval_seconds``."""

    async def start(self, refs: Sequence[ModelRef]) -> None:
        """Recover and open the prediction log, load and warm ``refs``, then start the
        background work deployments need (telemetry flushes, shadow threads, canary analyses)."""
        if self.predlog is not None:
            await asyncio.to_thread(self.predlog.start, asyncio.get_running_loop())
        if self.controls is not None:
            # Fail closed: a server that cannot read its PII marks and review rules does not start.
            await asyncio.to_thread(self.controls.refresh, strict=True)
        await self.manager.start(refs)
        await self.dataplane.refresh_controls(read=False)
        if self.controls_task is not None:
            self.controls_task.start()
        # Idle unless a deployment is served (one may take over a model's name later).
        self.telemetry.start()
        self.shadows.start()
        self.controller.start()
        if self.compaction is not None:
            self.compaction.start()
        if self.monitor is not None:
            self.monitor.start()
        if self.reviews is not None:
            self.reviews.start()
        if self.retention is not None:
            self.retention.start()

    async def close(self) -> None:
        """Stop taking work, unload, release the limiter (the app's lifespan calls this)."""
        self.dataplane.draining = True
        if self.controls_task is not None:
            await self.controls_task.stop()
        if self.monitor is not None:
            await self.monitor.stop()
        if self.reviews is not None:
            await self.reviews.stop()
        if self.retention is not None:
            await self.retention.close()
        if self.compaction is not None:
            await self.compaction.close()
        await self.controller.close()
        await self.shadows.close()
        await self.manager.close()
        await self.telemetry.close()
        if self.predlog is not None:
            await self.predlog.close()
        self.dataplane.close()
        await self.limiter.close()


def build_serving(services: Services, *, key_cache_seconds: float | None = None) -> Serving:
    """The serving graph over ``services``. ``key_cache_seconds``: how long the key checker
    keeps a key record (default the setting; the HTTP edge passes what its own decision
    cache leaves of it)."""
    settings = services.settings
    metrics = ServingMetrics()
    manager = ModelManager(
        services.registry,
        poll_seconds=settings.alias_poll_seconds,
        observers=[metrics, BatchMetrics(metrics.registry)],
        settings=settings,
    )

    def measured(name: str) -> bool:
        served = manager.deployment(name)
        return served is not None and served.measures_outcomes

    telemetry = RolloutTelemetry(
        services.store.rollouts, measured=measured, flush_seconds=settings.rollout_tick_seconds
    )
    shadows = ShadowDispatcher(
        manager.deployment,
        telemetry,
        threads=settings.shadow_threads,
        queue_size=settings.shadow_queue,
        timeout_seconds=settings.request_timeout_seconds,
        observers=[metrics],
    )
    predlog = PredictionLog.from_settings(settings, metrics) if settings.log_mode != "off" else None
    controls = ControlsCache(services.store.controls)
    privacy_key = settings_pii_key(settings)
    if predlog is not None:
        predlog.use_privacy(Privacy(controls.pii_marks, privacy_key))
    hold = ReviewHold(services.store.reviews.open, pii_marks=controls.pii_marks, pii_key=lambda: privacy_key)
    dataplane = DataPlane(
        manager,
        max_rows=settings.max_rows,
        timeout_seconds=settings.request_timeout_seconds,
        observers=[
            metrics,
            GuardrailMetrics(metrics.registry),
            InferenceStats(metrics.registry),
            telemetry,
            shadows,
            *([predlog] if predlog is not None else []),
        ],
        controls=controls,
        reviews=hold,
    )
    controller = RolloutController(
        services.store, manager, tick_seconds=settings.rollout_tick_seconds, observers=[metrics]
    )
    cache = settings.key_cache_seconds if key_cache_seconds is None else key_cache_seconds
    return Serving(
        metrics=metrics,
        manager=manager,
        dataplane=dataplane,
        limiter=limiter_from_settings(settings),
        access=KeyAccess(services.keys, cache_seconds=cache),
        telemetry=telemetry,
        shadows=shadows,
        controller=controller,
        predlog=predlog,
        compaction=CompactionTask(settings.home, settings.log_compact_seconds, pii_key=privacy_key),
        retention=RetentionTask(
            settings.home, services.store, settings.retention_interval_seconds, pii_key=privacy_key
        ),
        monitor=monitor_from_settings(settings, services.registry, manager.names, metrics.registry),
        reviews=ReviewWorker(
            services.store.reviews,
            ReviewMetrics(metrics.registry),
            seconds=settings.review_poll_seconds,
            allow_private=settings.webhook_allow_private,
        ),
        controls=controls,
        controls_task=Periodic("controls", settings.alias_poll_seconds, dataplane.refresh_controls),
    )
