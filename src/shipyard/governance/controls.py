"""Serving controls of one target (a model's name or a deployment's): what happens to its
predictions beyond answering them.

A document per target, stored in the registry (``registry/sql/controls.py``, changed only
with the ``governance.admin`` scope and audited) and followed by every server worker::

    review:                       # human in the loop (serving/review.py)
      rules:
        - {kind: low_confidence, below: 0.7}      # top probability below 0.7
        - {kind: classes, classes: [fraud]}       # the predicted class in a critical set
        - {kind: guardrail}                       # an input guardrail flagged the row
        - {kind: sample, rate: 0.01}              # a random audit sample
      timeout_seconds: 3600       # undecided by then: the ticket expires with the fallback answer
      respond: pending            # pending (202 + ticket) | fallback (answer the fallback now)
      webhook: https://...        # the decision, signed, is POSTed here (optional)
    guardrails:                   # serving/guardrails.py, against the version's reference profile
      inputs: flag                # off | flag | reject | review
      ood_threshold: 6.0          # max |z| (standardised distance to the reference mean)
      outputs: true               # finite values, probabilities summing to 1, known labels
    fallback:                     # used on a model error or a timeout (and for timed-out reviews)
      model: NAME@alias           # a fallback model, or
      answer: {predict: 0}        # a fixed answer: output name → value per row
    pii:                          # per signature field (and feedback attribute): drop | hash | keep
      email: drop
      customer_id: hash
    retention_days: 30            # prediction log and feedback older than this are purged

Every part is optional; a target without a document has none of these (guardrails then
default to ``inputs: flag`` against the reference profile where the version has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.errors import InvalidRequest

PiiMark = Literal["drop", "hash", "keep"]
GuardrailMode = Literal["off", "flag", "reject", "review"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LowConfidence(_Strict):
    kind: Literal["low_confidence"]
    below: float = Field(gt=0.0, le=1.0)


class CriticalClasses(_Strict):
    kind: Literal["classes"]
    classes: tuple[str | int | bool, ...] = Field(min_length=1, max_length=1000)


class GuardrailFlag(_Strict):
    kind: Literal["guardrail"]


class AuditSample(_Strict):
    kind: Literal["sample"]
    rate: float = Field(gt=0.0, le=1.0)


ReviewRule = LowConfidence | CriticalClasses | GuardrailFlag | AuditSample


class Review(_Strict):
    rules: tuple[ReviewRule, ...] = Field(min_length=1, max_length=50)
    timeout_seconds: float = Field(default=3600.0, gt=0.0, le=30 * 86400.0)
    respond: Literal["pending", "fallback"] = "pending"
    webhook: str | None = Field(default=None, max_length=2000)


class Guardrails(_Strict):
    inputs: GuardrailMode = "flag"
    ood_threshold: float = Field(default=6.0, gt=0.0, le=1e6)
    outputs: bool = True


class Fallback(_Strict):
    model: str | None = Field(default=None, max_length=300)
    answer: Mapping[str, Any] | None = None

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if value is not None and not value:
            raise ValueError("a fallback answer names at least one output")
        return value


class Controls(_Strict):
    review: Review | None = None
    guardrails: Guardrails | None = None
    fallback: Fallback | None = None
    pii: Mapping[str, PiiMark] = Field(default_factory=dict)
    retention_days: int | None = Field(default=None, ge=1, le=36500, strict=True)

    @field_validator("pii")
    @classmethod
    def _pii(cls, value: Mapping[str, PiiMark]) -> Mapping[str, PiiMark]:
        if len(value) > 10_000:
            raise ValueError("at most 10000 PII marks")
        for name in value:
            if not name or len(name) > 256:
                raise ValueError("a PII mark names a field of 1 to 256 characters")
        return value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


NO_CONTROLS = Controls()


def parse_controls(document: Mapping[str, Any] | Any, *, source: str = "controls") -> Controls:
    """A checked ``Controls`` from a parsed YAML/JSON document; ``InvalidRequest`` naming the field."""
    if not isinstance(document, Mapping):
        raise InvalidRequest(f"{source}: a controls document is a mapping", hint="see docs/governance.md")
    try:
        return Controls.model_validate(dict(document))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "document"
        raise InvalidRequest(
            f"{source}: {where}: {first.get('msg', 'invalid')}",
            hint="see docs/governance.md for the controls document",
            field=where,
        ) from exc
