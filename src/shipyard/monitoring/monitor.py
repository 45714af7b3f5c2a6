"""The server's monitor task: every ``monitor_interval_seconds``, each served target's
window of logged traffic becomes figures (``monitoring/window``), the Prometheus gauges
(``figure_metrics``) are set from them, and the alert rules are evaluated on them.

- **One worker at a time.** A run takes ``$SHIPYARD_HOME/predlog/monitor.lock`` with a
  non-blocking ``flock``; a worker that finds it held skips its turn (another worker is
  computing the same figures).
- **Off the event loop.** The run (Parquet reads, feedback queries, statistics) happens on
  a thread; requests keep being answered.
- **Windows.** The gauges and the plain ``(target, figure)`` alert figures are computed over
  the last ``WINDOW_SECONDS`` (an hour); a rule with another ``window`` gets
  ``(target, figure, window)`` figures computed over its own window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from shipyard.config import Settings
from shipyard.fs.locks import held_exclusively
from shipyard.monitoring.figure_metrics import FigureMetrics
from shipyard.monitoring.window_load import load_window
from shipyard.registry.service import RegistryService
from shipyard.serving.periodic import Periodic

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 3600.0
LOCK_NAME = "monitor.lock"

FigureKey = tuple[str, str] | tuple[str, str, float]


class FigureMonitor:
    """``FigureMonitor(settings, store, targets, metrics, engine).start()``; ``await stop()``.

    ``targets()`` names what to watch (the served models and deployments); ``engine`` is the
    alert engine (anything with ``evaluate(figures, now)`` and ``required()``), or None."""

    def __init__(
        self,
        settings: Settings,
        registry: RegistryService,
        targets: Callable[[], Sequence[str]],
        metrics: FigureMetrics | None,
        engine: Any = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.targets = targets
        self.metrics = metrics
        self.engine = engine
        self.lock_path = settings.home / "predlog" / LOCK_NAME
        self._periodic = Periodic("monitor", settings.monitor_interval_seconds, self.tick)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self.engine is not None and hasattr(self.engine, "close"):
            await asyncio.to_thread(self.engine.close)

    async def tick(self) -> None:
        await asyncio.to_thread(self.run_once)

    def run_once(self, now: float | None = None) -> dict[FigureKey, float] | None:
        """One run, if no other worker is running one: the figures it computed (None when skipped)."""
        with held_exclusively(self.lock_path) as mine:
            if not mine:
                logger.debug("monitor: another worker is computing the figures")
                return None
            return self.compute(time.time() if now is None else now)

    def _windows(self) -> list[float]:
        extra: set[float] = set()
        if self.engine is not None:
            extra = {float(window) for _, _, window in self.engine.required()}
        return [WINDOW_SECONDS, *sorted(extra - {WINDOW_SECONDS})]

    def compute(self, now: float) -> dict[FigureKey, float]:
        """Every target's figures over each window the gauges and rules need; gauges set,
        rules evaluated."""
        figures: dict[FigureKey, float] = {}
        windows = self._windows()
        for target in self.targets():
            for seconds in windows:
                started = time.perf_counter()
                try:
                    window = load_window(
                        self.settings.home,
                        self.registry,
                        target,
                        seconds=seconds,
                        until=now,
                        price_per_core_hour=self.settings.price_per_core_hour,
                        series=False,
                    )
                except Exception:
                    logger.exception("monitor: the figures of %s over %.0fs failed", target, seconds)
                    if self.metrics is not None:
                        self.metrics.failed(target)
                    continue
                flat = window.figures()
                if seconds == WINDOW_SECONDS:
                    for key, value in flat.items():
                        figures[key] = value
                    if self.metrics is not None:
                        self.metrics.update(window, seconds=time.perf_counter() - started, at=now)
                figures.update({(t, name, seconds): value for (t, name), value in flat.items()})
        if self.engine is not None and figures:
            self.engine.evaluate(figures, now)
        return figures


def monitor_from_settings(
    settings: Settings, registry: RegistryService, targets: Callable[[], Sequence[str]], metrics_registry: Any
) -> FigureMonitor | None:
    """The server's monitor: gauges on ``metrics_registry`` (the serving metrics'), the alert rules of
    the settings; None when the prediction log is off (there is nothing to watch)."""
    if settings.log_mode == "off":
        return None
    from shipyard.monitoring.alerts import AlertEngine

    engine = AlertEngine.from_settings(settings, registry.store.alerts)
    return FigureMonitor(settings, registry, targets, FigureMetrics(metrics_registry), engine)
