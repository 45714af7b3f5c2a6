"""Recording feedback against the prediction log: find the prediction an item names, check
the item against it, store it (``registry/sql/feedback.py``). Shared by ``POST /feedback``
and the local ``shipyard feedback``.

An item names a prediction by request id, or by the caller's own key (the latest request
that caller sent with it). A miss is looked up again, with growing pauses, for up to
``patience`` seconds: in ``batch`` mode an answer is sent before its record reaches the
segment (a few flush intervals later on a busy machine, 100 ms measured on a loaded one).
The patience of a batch is shared by its items, so a batch of unknown ids is not slow. A
request that failed predicted nothing: 404 too. A label must have the type of the version's
``predict`` output.

Attributes named by the target's PII marks (``governance/pii.py``; the model's marks, the
deployment's on top) are minimised before anything is stored: ``drop`` leaves them out,
``hash`` stores their pseudonym.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import Forbidden, NotFound, ShipyardError
from shipyard.governance.pii import PiiMark, minimise_scalars
from shipyard.monitoring.predlog.lookup import LogLookup
from shipyard.registry.sql.feedback import Feedback, FeedbackResult, Prediction, check_feedback, label_type
from shipyard.registry.sql.store import RegistryStore

MARKS_SECONDS = 2.0


@dataclass(frozen=True)
class Item:
    """One feedback: the prediction it names (request id or key), its row, what it says."""

    request_id: str | None
    key: str | None
    row: int
    feedback: Feedback


class FeedbackRecorder:
    """Finds predictions in ``lookup`` and records feedback in ``store.feedback``."""

    def __init__(
        self, store: RegistryStore, lookup: LogLookup, *, patience: float = 1.0, pii_key: bytes | None = None
    ) -> None:
        self.store = store
        self.lookup = lookup
        self.patience = patience
        self.pii_key = pii_key
        """The HMAC key of ``hash`` marks (without it, attributes marked ``hash`` are dropped)."""
        self._label_types: dict[tuple[str, int], str | None] = {}
        self._marks: dict[tuple[str, str | None], tuple[float, Mapping[str, PiiMark]]] = {}

    def deadline(self) -> float:
        """Until when (``time.monotonic``) a miss is looked up again: pass one to every item
        of a batch to share the patience."""
        return time.monotonic() + self.patience

    def record(
        self,
        item: Item,
        *,
        caller: str,
        recorded_by: str,
        allowed: Callable[[str], bool] = lambda target: True,
        deadline: float | None = None,
    ) -> FeedbackResult:
        """Record ``item`` for ``caller`` (whose keys ``item.key`` names); ``allowed(target)``
        says whether the caller may give feedback on the prediction's target."""
        prediction = self.prediction(item.request_id, item.key, caller=caller, allowed=allowed, deadline=deadline)
        checked = check_feedback(item.feedback, label_kind=prediction.label_type)
        marks = self.pii_marks(prediction.model, prediction.deployment)
        if marks and checked.attributes:
            attributes = minimise_scalars(checked.attributes, marks, self.pii_key)
            checked = Feedback(checked.label, checked.value, checked.outcomes, attributes)
        return self.store.feedback.record(prediction, item.row, checked, recorded_by=recorded_by)

    def pii_marks(self, model: str, deployment: str | None) -> Mapping[str, PiiMark]:
        """The PII marks of ``model`` (through ``deployment``): read from the registry, kept
        for ``MARKS_SECONDS``."""
        now = time.monotonic()
        cached = self._marks.get((model, deployment))
        if cached is not None and cached[0] > now:
            return cached[1]
        merged: dict[str, PiiMark] = {}
        for target in (model, deployment):
            if target is None:
                continue
            stored = self.store.controls.get(target)
            if stored is not None:
                merged.update(stored.controls.pii)
        if len(self._marks) > 4096:
            self._marks.clear()
        self._marks[(model, deployment)] = (now + MARKS_SECONDS, merged)
        return merged

    def prediction(
        self,
        request_id: str | None,
        key: str | None,
        *,
        caller: str,
        allowed: Callable[[str], bool] = lambda target: True,
        deadline: float | None = None,
    ) -> Prediction:
        """The logged prediction named by ``request_id`` or ``caller``'s ``key``."""

        def find() -> dict[str, Any] | None:
            if request_id is not None:
                return self.lookup.find(request_id)
            assert key is not None
            return self.lookup.find_by_key(caller, key)

        record = find()
        until = self.deadline() if deadline is None else deadline
        pause = 0.02
        while record is None and time.monotonic() < until:
            time.sleep(min(pause, max(0.0, until - time.monotonic())))
            pause = min(pause * 2, 0.25)
            record = find()
        named = f"request {request_id!r}" if request_id is not None else f"key {key!r} of {caller}"
        if record is None:
            raise NotFound(
                f"no logged prediction for {named}",
                hint="feedback names the X-Request-Id of an answer (or the X-Prediction-Key its caller sent); "
                "is the prediction log on (log_mode) and was the request sampled?",
            )
        target = str(record.get("target") or record.get("model"))
        if not allowed(target):
            raise Forbidden(f"this key may not give feedback on {target!r}")
        if record.get("status") != 200:
            raise NotFound(
                f"{named} failed (status {record.get('status')}): there is no prediction to give feedback on"
            )
        model = str(record.get("model"))
        version = _int_or_none(record.get("version"))
        return Prediction(
            request_id=str(record["request_id"]),
            rows=int(record.get("rows") or 0),
            target=target,
            model=model,
            version=version,
            time=float(record.get("time") or 0.0),
            caller=str(record.get("caller") or ""),
            key=record.get("key"),
            deployment=record.get("deployment"),
            variant=record.get("variant"),
            revision=_int_or_none(record.get("revision")),
            label_type=self._label_type(model, version),
        )

    def _label_type(self, model: str, version: int | None) -> str | None:
        """The label type of a version (its signature never changes: cached)."""
        if version is None:
            return None
        if (model, version) in self._label_types:
            return self._label_types[(model, version)]
        try:
            signature = self.store.get_version(model, version).signature
        except ShipyardError:
            return None
        self._label_types[(model, version)] = kind = label_type(signature)
        return kind


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
