"""Feedback in the registry database: ground truth, outcomes and attributes of logged predictions.

A prediction (one row of a logged request, ``monitoring/predlog``) may later be given:

- a ``label`` (classification ground truth: a string, integer, number or boolean, of the type
  the model's ``predict`` output has) or a ``value`` (regression ground truth: a number);
- ``outcomes``: named numbers (revenue, conversion, rating);
- ``attributes``: named strings, numbers or booleans (sensitive attributes for fairness,
  which need not be model inputs).

Each fact is one row of ``feedback`` keyed by (request id, row, kind, name) and is written
once: the same fact again is accepted (nothing new: ``created`` False), another value for it
is a ``Conflict`` and nothing of that feedback is stored. New facts may be added to a row at
any time (a label days after an outcome). The prediction's target, model, version,
deployment, variant, caller, key and time are copied into every row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shipyard.errors import Conflict, InvalidRequest
from shipyard.registry.sql import queries, transactions
from shipyard.registry.sql.tables import feedback
from shipyard.schema.signature import FLOAT_DTYPES, Signature

T = TypeVar("T")

LABEL, VALUE, OUTCOME, ATTRIBUTE = "label", "value", "outcome", "attribute"
KINDS = (LABEL, VALUE, OUTCOME, ATTRIBUTE)
MAX_NAMED = 64
"""Outcomes, and attributes, per feedback."""
MAX_TEXT = 256
"""Characters of a string label or attribute."""
MAX_REQUEST_ID = 128
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Prediction:
    """The logged prediction feedback is about (read from the prediction log)."""

    request_id: str
    rows: int
    target: str
    model: str
    version: int | None
    time: float
    """Unix seconds the request started."""
    caller: str
    key: str | None = None
    deployment: str | None = None
    variant: str | None = None
    revision: int | None = None
    label_type: str | None = None
    """What a label must be: ``string``, ``int``, ``float`` or ``bool`` (None: any scalar)."""


@dataclass(frozen=True)
class Feedback:
    """What is said about one row of a prediction; every part optional, not all empty."""

    label: Scalar | None = None
    value: float | None = None
    outcomes: Mapping[str, float] = field(default_factory=dict)
    attributes: Mapping[str, Scalar] = field(default_factory=dict)

    def facts(self) -> list[tuple[str, str, Scalar]]:
        """(kind, name, value) of every part given."""
        found: list[tuple[str, str, Scalar]] = []
        if self.label is not None:
            found.append((LABEL, "", self.label))
        if self.value is not None:
            found.append((VALUE, "", self.value))
        found.extend((OUTCOME, k, v) for k, v in self.outcomes.items())
        found.extend((ATTRIBUTE, k, v) for k, v in self.attributes.items())
        return found


@dataclass(frozen=True)
class FeedbackResult:
    """What recording one feedback did; ``feedback`` is everything the row has now."""

    prediction: Prediction
    row: int
    created: bool
    feedback: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        p = self.prediction
        return {
            "request_id": p.request_id,
            "row": self.row,
            "target": p.target,
            "model": p.model,
            "version": p.version,
            "deployment": p.deployment,
            "variant": p.variant,
            "created": self.created,
            **self.feedback,
        }


@dataclass(frozen=True)
class Fact:
    """One stored fact, as ``FeedbackStore.facts`` reads them."""

    request_id: str
    row: int
    kind: str
    name: str
    value: Scalar
    target: str
    model: str
    version: int | None
    deployment: str | None
    variant: str | None
    predicted_at: datetime
    recorded_at: datetime


def label_type(signature: Signature) -> str | None:
    """The type a label must have for a model with ``signature``: that of its ``predict``
    output (else its only output); None when it has no single such output."""
    outputs = {f.name: f for f in signature.outputs}
    spec = outputs.get("predict") or (signature.outputs[0] if len(signature.outputs) == 1 else None)
    if spec is None:
        return None
    if spec.dtype in ("string", "bytes"):
        return "string"
    if spec.dtype == "bool":
        return "bool"
    if spec.dtype in FLOAT_DTYPES:
        return "float"
    return "int"


def check_feedback(feedback_: Feedback, *, label_kind: str | None) -> Feedback:
    """``feedback_`` checked and normalised (an integral float label of an integer model
    becomes an int); ``InvalidRequest`` naming what is wrong."""
    label = feedback_.label
    if label is not None:
        label = _check_label(label, label_kind)
    value = None if feedback_.value is None else _number(feedback_.value, '"value"')
    if len(feedback_.outcomes) > MAX_NAMED or len(feedback_.attributes) > MAX_NAMED:
        raise InvalidRequest(f"at most {MAX_NAMED} outcomes and {MAX_NAMED} attributes per feedback")
    outcomes = {_name(k, "outcome"): _number(v, f"outcome {k!r}") for k, v in feedback_.outcomes.items()}
    attributes = {_name(k, "attribute"): _attribute(k, v) for k, v in feedback_.attributes.items()}
    checked = Feedback(label=label, value=value, outcomes=outcomes, attributes=attributes)
    if not checked.facts():
        raise InvalidRequest('feedback needs a "label", a "value", "outcomes" or "attributes"')
    return checked


def check_request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_REQUEST_ID:
        raise InvalidRequest(f"a request id is a string of 1 to {MAX_REQUEST_ID} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in request_id):
        raise InvalidRequest("a request id has no spaces or control characters")
    return request_id


class FeedbackStore:
    """Feedback rows; shares the registry store's engine (``store.feedback``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, prediction: Prediction, row: int, feedback_: Feedback, *, recorded_by: str) -> FeedbackResult:
        """Record ``feedback_`` (already checked: ``check_feedback``) about ``row`` of
        ``prediction``, in one transaction; ``Conflict`` when a fact has another value."""
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < max(prediction.rows, 1):
            raise InvalidRequest(
                f"request {prediction.request_id!r} has {prediction.rows} row(s); row {row!r} is not one of them"
            )
        facts = feedback_.facts()

        def work(conn: Connection) -> FeedbackResult:
            existing = _row_facts(conn, prediction.request_id, row)
            created = False
            for kind, name, value in facts:
                stored = existing.get((kind, name))
                if stored is not None:
                    if _same(stored, value):
                        continue
                    what = kind if not name else f"{kind} {name!r}"
                    raise Conflict(
                        f"request {prediction.request_id!r} row {row} already has {what} = "
                        f"{_shown(stored)}, not {_shown(value)}",
                        hint="each fact of a prediction is recorded once",
                    )
                conn.execute(
                    sa.insert(feedback).values(**_values(prediction, row, kind, name, value, recorded_by=recorded_by))
                )
                existing[(kind, name)] = value
                created = True
            return FeedbackResult(prediction, row, created, _shape(existing))

        return self._write(work, "recording feedback", retry_unique=True)

    def for_request(self, request_id: str) -> list[dict[str, Any]]:
        """Every row's feedback of ``request_id``, by row: the prediction's fields, ``label``,
        ``value``, ``outcomes``, ``attributes`` and when it was last recorded."""
        check_request_id(request_id)
        query = sa.select(feedback).where(feedback.c.request_id == request_id).order_by(feedback.c.id)

        def work(conn: Connection) -> list[dict[str, Any]]:
            rows: dict[int, dict[str, Any]] = {}
            facts: dict[int, dict[tuple[str, str], Scalar]] = {}
            for r in conn.execute(query).mappings():
                index = int(r["row_index"])
                rows[index] = {
                    "request_id": r["request_id"],
                    "row": index,
                    "target": r["target"],
                    "model": r["model"],
                    "version": r["version"],
                    "deployment": r["deployment"],
                    "variant": r["variant"],
                    "predicted_at": r["predicted_at"].isoformat(),
                    "recorded_at": r["recorded_at"].isoformat(),
                }
                facts.setdefault(index, {})[(r["kind"], r["name"])] = orjson.loads(r["value_json"])
            return [{**rows[i], **_shape(facts[i])} for i in sorted(rows)]

        return self._read(work, f"reading the feedback of {request_id!r}")

    def facts(
        self,
        *,
        target: str | None = None,
        deployment: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kind: str | None = None,
        name: str | None = None,
        request_ids: Iterable[str] | None = None,
    ) -> list[Fact]:
        """Stored facts, oldest recorded first, of predictions made in ``[since, until)``."""
        query = sa.select(feedback)
        if target is not None:
            query = query.where(feedback.c.target == target)
        if deployment is not None:
            query = query.where(feedback.c.deployment == deployment)
        if since is not None:
            query = query.where(feedback.c.predicted_at >= since)
        if until is not None:
            query = query.where(feedback.c.predicted_at < until)
        if kind is not None:
            query = query.where(feedback.c.kind == kind)
        if name is not None:
            query = query.where(feedback.c.name == name)
        ids = None if request_ids is None else sorted(set(request_ids))

        def work(conn: Connection) -> list[Fact]:
            found: list[Fact] = []
            chunks = [None] if ids is None else [ids[i : i + 500] for i in range(0, len(ids), 500)]
            for chunk in chunks:
                q = query if chunk is None else query.where(feedback.c.request_id.in_(chunk))
                for r in conn.execute(q.order_by(feedback.c.id)).mappings():
                    found.append(
                        Fact(
                            request_id=r["request_id"],
                            row=int(r["row_index"]),
                            kind=r["kind"],
                            name=r["name"],
                            value=orjson.loads(r["value_json"]),
                            target=r["target"],
                            model=r["model"],
                            version=r["version"],
                            deployment=r["deployment"],
                            variant=r["variant"],
                            predicted_at=r["predicted_at"],
                            recorded_at=r["recorded_at"],
                        )
                    )
            return found

        return self._read(work, "reading feedback")

    # -- inside a transaction -------------------------------------------------------------

    def _read(self, work: Callable[[Connection], T], what: str) -> T:
        return transactions.run(self._engine, work, write=False, what=what)

    def _write(self, work: Callable[[Connection], T], what: str, *, retry_unique: bool = False) -> T:
        return transactions.run(self._engine, work, write=True, retry_unique=retry_unique, what=what)


def _row_facts(conn: Connection, request_id: str, row: int) -> dict[tuple[str, str], Scalar]:
    query = sa.select(feedback.c.kind, feedback.c.name, feedback.c.value_json).where(
        feedback.c.request_id == request_id, feedback.c.row_index == row
    )
    return {(k, n): orjson.loads(v) for k, n, v in conn.execute(query)}


def _values(
    prediction: Prediction, row: int, kind: str, name: str, value: Scalar, *, recorded_by: str
) -> dict[str, Any]:
    number = None if isinstance(value, str) else float(value)
    return {
        "request_id": prediction.request_id,
        "row_index": row,
        "kind": kind,
        "name": name,
        "value_number": number,
        "value_json": orjson.dumps(value).decode(),
        "target": prediction.target,
        "model": prediction.model,
        "version": prediction.version,
        "deployment": prediction.deployment,
        "variant": prediction.variant,
        "revision": prediction.revision,
        "caller": prediction.caller[:255],
        "key": prediction.key,
        "predicted_at": datetime.fromtimestamp(prediction.time, UTC),
        "recorded_by": recorded_by[:255],
        "recorded_at": queries.now(),
    }


def _shape(facts: Mapping[tuple[str, str], Scalar]) -> dict[str, Any]:
    return {
        "label": facts.get((LABEL, "")),
        "value": facts.get((VALUE, "")),
        "outcomes": {n: v for (k, n), v in sorted(facts.items()) if k == OUTCOME},
        "attributes": {n: v for (k, n), v in sorted(facts.items()) if k == ATTRIBUTE},
    }


def _same(stored: Scalar, value: Scalar) -> bool:
    if isinstance(stored, bool) or isinstance(value, bool):
        return isinstance(stored, bool) and isinstance(value, bool) and stored == value
    if isinstance(stored, str) or isinstance(value, str):
        return isinstance(stored, str) and isinstance(value, str) and stored == value
    return float(stored) == float(value)


def _shown(value: Scalar) -> str:
    return orjson.dumps(value).decode()[:60]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{what} must be a number, got {_type_name(value)}")
    if not math.isfinite(value):
        raise InvalidRequest(f"{what} must be a finite number")
    return float(value)


def _name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"an {what} name is a letter then letters, digits, '_', '.', ':' or '-' (up to 128)")
    return name


def _attribute(name: str, value: Any) -> Scalar:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InvalidRequest(f"attribute {name!r} is longer than {MAX_TEXT} characters")
        return value
    if isinstance(value, int | float):
        return _number(value, f"attribute {name!r}")
    raise InvalidRequest(f"attribute {name!r} must be a string, number or boolean, got {_type_name(value)}")


def _check_label(label: Any, kind: str | None) -> Scalar:
    if isinstance(label, str) and len(label) > MAX_TEXT:
        raise InvalidRequest(f'"label" is longer than {MAX_TEXT} characters')
    if kind is None:
        if isinstance(label, bool | str):
            return label
        if isinstance(label, int | float) and math.isfinite(label):
            return label
        raise InvalidRequest(f'"label" must be a string, number or boolean, got {_type_name(label)}')
    ok: bool
    if kind == "string":
        ok = isinstance(label, str)
    elif kind == "bool":
        ok = isinstance(label, bool)
    elif kind == "int":
        if isinstance(label, float) and not isinstance(label, bool) and math.isfinite(label) and label.is_integer():
            label = int(label)
        ok = isinstance(label, int) and not isinstance(label, bool)
    else:
        ok = isinstance(label, int | float) and not isinstance(label, bool) and math.isfinite(label)
    if not ok:
        raise InvalidRequest(
            f'"label" must be {_KIND_NAMES[kind]} for this model (its predict output), got {_type_name(label)}',
            hint='a regression\'s ground truth goes in "value"' if kind == "float" else None,
        )
    return label  # type: ignore[no-any-return]


_KIND_NAMES = {"string": "a string", "bool": "a boolean", "int": "an integer", "float": "a number"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if math.isfinite(value) else "a non-finite number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
