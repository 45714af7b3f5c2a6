"""Progressive delivery in the server: each worker analyses its deployments' canaries.

Every ``tick_seconds`` each worker evaluates every served deployment whose rollout is
``progressing`` (``rollout.operations.evaluate``: the traffic of all workers since the step
began, read from the registry) and, when the verdict calls for a move
(``rollout.progress.decide``), writes it compare-and-set against the revision the verdict
was decided on. So with several workers every one of them may decide, and exactly one move
is written; the others find the revision changed and do nothing. The step's clock is in the
registry too (``step_started_at``), so a restarted server resumes the step where it was.

A move is applied at once in the worker that wrote it (``ModelManager.refresh``), and in
the others at their next poll. A rollback is logged as a warning and metered
(``shipyard_rollout_events{action="rollback"}``); every move is a revision in the
deployment's history and an entry in the audit trail, with the verdict's figures.
Waiting verdicts are written to the deployment (for ``deploy status``) at most every
``note_seconds``, or when the outcome changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from shipyard.registry.sql.store import RegistryStore
from shipyard.rollout.operations import Evaluation, evaluate
from shipyard.rollout.progress import ROLLOUT_ACTOR, decide
from shipyard.rollout.service import spec_yaml
from shipyard.serving.events import RolloutObserver, RolloutRecord
from shipyard.serving.manager import ModelManager
from shipyard.serving.periodic import Periodic

logger = logging.getLogger(__name__)


class RolloutController:
    """Runs the analyses of the deployments this worker serves."""

    def __init__(
        self,
        store: RegistryStore,
        manager: ModelManager,
        *,
        tick_seconds: float = 1.0,
        note_seconds: float = 5.0,
        observers: Sequence[RolloutObserver] = (),
    ) -> None:
        self._store = store
        self._manager = manager
        self._note = note_seconds
        self._observers = tuple(observers)
        self._noted: dict[str, tuple[int, str, float]] = {}
        self._periodic = Periodic("rollout analysis", tick_seconds, self.tick)

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.stop()

    def _analysed(self) -> list[str]:
        """Served deployments (any revision may gain an analysis, so all of them)."""
        return [name for name in self._manager.names() if self._manager.deployment(name) is not None]

    async def tick(self) -> None:
        """Evaluate every served deployment's rollout once, and move those that must."""
        for name in self._analysed():
            served = self._manager.deployment(name)
            if served is None or served.spec.analysis is None:
                continue
            evaluation = await asyncio.to_thread(evaluate, self._store, name)
            if evaluation is None:
                continue
            if await asyncio.to_thread(self._act, name, evaluation):
                await self._manager.refresh()

    def _act(self, name: str, evaluation: Evaluation) -> bool:
        """Write what the verdict calls for (on a thread); True when a move was written."""
        verdict = evaluation.verdict
        move = decide(evaluation.spec, verdict)
        if move.spec is None:
            noted = self._noted.get(name)
            now = time.monotonic()
            if (
                noted
                and noted[0] == evaluation.revision
                and noted[1] == verdict.outcome
                and now - noted[2] < self._note
            ):
                return False
            self._store.deployments.transition(
                name,
                expected_revision=evaluation.revision,
                rollout_status=move.status,
                verdict=verdict.to_dict(),
            )
            self._noted[name] = (evaluation.revision, verdict.outcome, now)
            return False
        canonical = move.spec.canonical_json()
        applied = self._store.deployments.transition(
            name,
            expected_revision=evaluation.revision,
            rollout_status=move.status,
            verdict=verdict.to_dict(),
            spec_json=canonical,
            spec_yaml=spec_yaml(canonical),
            action=move.action,
            actor=ROLLOUT_ACTOR,
            source="rollout",
            reason=move.reason[:4000],
        )
        if applied is None:
            return False  # another worker moved first
        action = (move.action or "").removeprefix("deployment.")
        level = logging.WARNING if action == "rollback" else logging.INFO
        logger.log(level, "deployment %s: %s to revision %d: %s", name, action, applied.revision.revision, move.reason)
        for observer in self._observers:
            try:
                observer.on_rollout(RolloutRecord(name, action, move.reason))
            except Exception:
                logger.exception("rollout observer failed")
        return True
