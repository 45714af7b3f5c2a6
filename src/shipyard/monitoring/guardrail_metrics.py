"""Prometheus counters of the data plane's governance: guardrail flags by kind, fallbacks by
cause and what answered, and predictions held for review by reason.

An observer of ``serving/events``: it reads a record's ``flags`` (``input_range:COL``,
``unseen_category:COL``, ``ood``, ``output_*``, ``fallback:CAUSE``, ``review:REASON``),
``fallback`` and ``ticket``. Labels stay bounded: the kind of a flag, never its column.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from shipyard.serving.events import InferenceFailure, InferenceRecord


class GuardrailMetrics:
    """``shipyard_guardrail_flags_total``, ``shipyard_fallbacks_total``, ``shipyard_review_held_total``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.flags = Counter(
            "shipyard_guardrail_flags",
            "Requests flagged by a guardrail, by kind of flag (input_range, unseen_category, ood, output_*)",
            ("model", "kind"),
            registry=registry,
        )
        self.fallbacks = Counter(
            "shipyard_fallbacks",
            "Requests answered by a fallback, by cause (model_error, timeout, review) and what answered",
            ("model", "cause", "answered_by"),
            registry=registry,
        )
        self.held = Counter(
            "shipyard_review_held",
            "Predictions held for human review, by reason (low_confidence, classes, guardrail, sample)",
            ("model", "reason"),
            registry=registry,
        )

    def on_inference(self, record: InferenceRecord) -> None:
        if not record.flags:
            return
        model = record.deployment or record.model
        answered_by = "model" if (record.fallback or "").startswith("model:") else "answer"
        seen: set[str] = set()
        for flag in record.flags:
            kind, _, detail = flag.partition(":")
            if kind == "fallback":
                self.fallbacks.labels(model, detail, answered_by).inc()
            elif kind == "review":
                self.held.labels(model, detail).inc()
            elif kind not in seen:
                seen.add(kind)
                self.flags.labels(model, kind).inc()

    def on_failure(self, failure: InferenceFailure) -> None:
        if failure.code == "guardrail_rejected":
            self.flags.labels(failure.deployment or failure.model, "rejected").inc()
