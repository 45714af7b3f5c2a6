"""What each server worker knows of the serving controls (``governance/controls.py``).

The registry holds one controls document per target; a worker reads them all in one query
(:meth:`ControlsCache.refresh`, on a thread: it touches the database) at start and then on
the watcher's cadence, and the hot path only does dict lookups (:meth:`ControlsCache.get`).
A failed read keeps what was read before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shipyard.errors import ShipyardError
from shipyard.governance.controls import NO_CONTROLS, Controls, PiiMark
from shipyard.registry.sql.controls import ControlsStore

logger = logging.getLogger(__name__)


class ControlsCache:
    """Every target's controls, as last read; lookups only on the hot path."""

    def __init__(self, store: ControlsStore | None) -> None:
        self._store = store
        self._controls: dict[str, Controls] = {}
        self._revisions: dict[str, int] = {}
        self._pii: dict[tuple[str, str | None], Mapping[str, PiiMark]] = {}

    def refresh(self, *, strict: bool = False) -> bool:
        """Read every target's controls (blocking: call it on a thread). True when something
        changed. ``strict`` (at start): a failed read raises instead of keeping the last ones,
        so that no request is served (and logged) without its PII marks."""
        if self._store is None:
            return False
        try:
            stored = self._store.all()
        except ShipyardError as exc:
            if strict:
                raise
            logger.warning("cannot read the serving controls; keeping the last ones: %s", exc)
            return False
        revisions = {target: s.revision for target, s in stored.items()}
        if revisions == self._revisions:
            return False
        self.replace({target: s.controls for target, s in stored.items()}, revisions)
        return True

    def replace(self, controls: Mapping[str, Controls], revisions: Mapping[str, int] | None = None) -> None:
        """Install ``controls`` (one dict assignment each, so readers see old or new, never half)."""
        self._controls = dict(controls)
        self._revisions = dict(revisions or {t: 0 for t in controls})
        self._pii = {}

    def get(self, target: str) -> Controls:
        """``target``'s controls (no document: every part absent)."""
        return self._controls.get(target, NO_CONTROLS)

    def has(self, target: str) -> bool:
        return target in self._controls

    def pii_marks(self, model: str, deployment: str | None = None) -> Mapping[str, PiiMark]:
        """The PII marks that apply to a prediction of ``model`` (through ``deployment``):
        the model's marks, then the deployment's on top."""
        key = (model, deployment)
        marks = self._pii.get(key)
        if marks is None:
            merged: dict[str, PiiMark] = dict(self.get(model).pii)
            if deployment is not None:
                merged.update(self.get(deployment).pii)
            marks = self._pii[key] = merged
        return marks

    def targets(self) -> tuple[str, ...]:
        return tuple(self._controls)
