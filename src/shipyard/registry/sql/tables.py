"""The registry's tables, as SQLAlchemy Core metadata.

The schema itself is created by the Alembic migrations in ``shipyard.registry.migrations``;
this metadata must describe the same thing (a test compares the two) and is what the
store's queries are written against. JSON documents are stored as text so that both
backends keep them byte-for-byte (PostgreSQL's ``json`` type refuses ``NaN`` metrics).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Deterministic constraint names, so that migrations can refer to them on every backend.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend stores.

    SQLite has no time zones (it hands back naive values), and PostgreSQL answers in the
    session's time zone; both are normalised here so callers only ever see UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("risk_tier", sa.String(16), nullable=True),
)

model_tags = sa.Table(
    "model_tags",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("artifact_size", sa.BigInteger, nullable=False),
    sa.Column("artifact_filename", sa.String(255), nullable=False),
    sa.Column("signature_json", sa.Text, nullable=False),
    sa.Column("lineage_json", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=True),
    sa.Column("trusted_types_json", sa.Text, nullable=False),
    sa.Column("unsafe_format", sa.Boolean, nullable=False),
    sa.Column("trust_code", sa.Boolean, nullable=False),
    sa.Column("input_example_json", sa.Text, nullable=True),
    sa.Column("flavor_metadata_json", sa.Text, nullable=False),
    # Lifecycle (migration 0005): the only columns of a version that change after it is
    # registered (``registry/sql/lifecycle.py``); everything above stays as registered.
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="active"),
    sa.Column("deprecated_at", UTCDateTime, nullable=True),
    sa.Column("sunset_at", UTCDateTime, nullable=True),
    sa.Column("successor", sa.String(200), nullable=True),
    sa.Column("retired_at", UTCDateTime, nullable=True),
    sa.Column("archived_at", UTCDateTime, nullable=True),
    sa.Column("lifecycle_reason", sa.Text, nullable=True),
    # The last guard against two writers both taking max(version) + 1.
    sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
)

version_tags = sa.Table(
    "version_tags",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# A version's compiled form: an addition made at or after registration (``set_compiled``),
# kept apart so that the version row itself is never updated.
compiled_versions = sa.Table(
    "compiled_versions",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("artifact_sha256", sa.String(64), nullable=True),
    sa.Column("artifact_size", sa.BigInteger, nullable=True),
    sa.Column("artifact_filename", sa.String(255), nullable=True),
    sa.Column("runtime", sa.String(64), nullable=True),
    sa.Column("report_json", sa.Text, nullable=True),
    sa.Column("serving_runtime", sa.String(16), nullable=False),
    sa.Column("compile_error", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # An alias can only point at a version that exists.
    sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        name="fk_aliases_model_id_version_model_versions",
        ondelete="CASCADE",
    ),
)

# API keys (migration 0003): only the sha256 of each secret (``shipyard.governance.keys``).
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("grants_json", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
)

# The hash-chained audit trail (``shipyard.governance.chain``); appended, never updated.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("details_json", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=True),
)

# ed25519 signatures of a version's artifacts (``kind``: ``model`` or ``compiled``).
artifact_signatures = sa.Table(
    "artifact_signatures",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("signature", sa.Text, nullable=False),
    sa.Column("signed_at", UTCDateTime, nullable=False),
)

# Deployments (migration 0004): a named endpoint and its immutable numbered revisions. A
# deleted deployment keeps its row (``state`` "deleted") and every revision; applying the
# name again revives it and continues the numbering.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("current_revision", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Progressive delivery (migration 0006): where the rollout stands, when its current step
    # began (the bake clock, so a restart resumes it) and the last analysis verdict (JSON).
    sa.Column("rollout_status", sa.String(16), nullable=True),
    sa.Column("step_started_at", UTCDateTime, nullable=True),
    sa.Column("rollout_verdict", sa.Text, nullable=True),
)

deployment_revisions = sa.Table(
    "deployment_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.Integer, sa.ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("spec_json", sa.Text, nullable=False),
    sa.Column("spec_yaml", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("source", sa.String(255), nullable=False),
    # The last guard against two writers both taking max(revision) + 1.
    sa.UniqueConstraint("deployment_id", "revision", name="uq_deployment_revisions_deployment_id_revision"),
)

# Rollout telemetry (migration 0006). Each server worker writes, per deployment, variant,
# kind (served/shadow/mirror) and second, one row of mergeable counts (JSON of a
# ``rollout.window.VariantWindow``); analyses and reports merge the rows of every worker.
rollout_windows = sa.Table(
    "rollout_windows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment", sa.String(128), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("worker", sa.String(96), nullable=False),
    sa.Column("second", sa.BigInteger, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("deployment", "variant", "kind", "worker", "second", name="uq_rollout_windows_deployment"),
    sa.Index("ix_rollout_windows_deployment_second", "deployment", "second"),
)

# Which variant answered a request id, for deployments whose outcomes are measured (an
# experiment, or a canary with an outcome gate); outcomes are joined to it.
rollout_assignments = sa.Table(
    "rollout_assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("deployment", "request_id", name="uq_rollout_assignments_deployment"),
)

# Outcomes (named numbers: conversion, revenue) recorded against a request id; one value
# per (deployment, request, metric): the same again is accepted, a different one refused.
rollout_outcomes = sa.Table(
    "rollout_outcomes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("deployment", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("metric", sa.String(128), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("variant", sa.String(64), nullable=False),
    sa.Column("recorded_by", sa.String(255), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("deployment", "request_id", "metric", name="uq_rollout_outcomes_deployment"),
    sa.Index("ix_rollout_outcomes_deployment_metric", "deployment", "metric"),
)

# Alerts (migration 0008, ``registry/sql/alerts.py``): one state row per (rule, target),
# moved by compare-and-set on ``revision`` so that workers evaluating the same rules agree;
# the events each transition recorded, and the deliveries each event owes.
alert_states = sa.Table(
    "alert_states",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", UTCDateTime, nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("rule", "target", name="uq_alert_states_rule"),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("episode", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.UniqueConstraint("rule", "target", "episode", "kind", name="uq_alert_events_rule"),
)

alert_deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(160), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    # The worker sending it, until when: a pending delivery whose claim ran out (its worker
    # died) is claimed, by compare-and-set, by another worker and sent from there.
    sa.Column("claimed_by", sa.String(96), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("event_id", "channel", name="uq_alert_deliveries_event_id"),
    sa.Index("ix_alert_deliveries_status", "status"),
)

# Feedback (migration 0007, ``registry/sql/feedback.py``): facts about a logged prediction's
# row that arrive later. One row per (request id, row, kind, name); ``kind`` is ``label``,
# ``value``, ``outcome`` or ``attribute`` (``name`` empty for the first two). ``value_json``
# keeps the value as sent (a label's type); ``value_number`` the number, when it is one.
# The prediction's target, model, version, deployment, variant, caller, key and time are
# copied in so that reports and experiments read feedback without the prediction log.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("row_index", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("value_number", sa.Float, nullable=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("variant", sa.String(64), nullable=True),
    sa.Column("revision", sa.Integer, nullable=True),
    sa.Column("caller", sa.String(255), nullable=False),
    sa.Column("key", sa.String(128), nullable=True),
    sa.Column("predicted_at", UTCDateTime, nullable=False),
    sa.Column("recorded_by", sa.String(255), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("request_id", "row_index", "kind", "name", name="uq_feedback_request_id"),
    sa.Index("ix_feedback_target_predicted_at", "target", "predicted_at"),
    sa.Index("ix_feedback_deployment_name", "deployment", "kind", "name"),
)

# Governance (migration 0009). A model's risk tier is a column of ``models`` (NULL: the
# policy's default tier). ``governance_policies`` keeps every revision of the policy YAML
# (the highest revision is in force); ``approval_requests`` and ``approval_votes`` are the
# approvals of a version (one vote per actor and request); ``model_cards`` every revision of
# a version's narrative card fields; ``controls`` the per-target (model or deployment)
# serving controls: review rules, guardrails, fallback, PII marks, retention;
# ``review_tickets`` the predictions held for human review; ``governance_flags`` what must
# be looked at afterwards (an emergency rollback); ``erasures`` the erasure requests (the
# keyed hash of the subject, never the subject).
governance_policies = sa.Table(
    "governance_policies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision", sa.Integer, nullable=False, unique=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Index("ix_approval_requests_model_id_version", "model_id", "version"),
)

approval_votes = sa.Table(
    "approval_votes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("approval_requests.id", ondelete="CASCADE"), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("request_id", "actor", name="uq_approval_votes_request_id"),
)

model_cards = sa.Table(
    "model_cards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("model_id", "version", "revision", name="uq_model_cards_model_id"),
)

controls = sa.Table(
    "controls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(128), nullable=False, unique=True),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

review_tickets = sa.Table(
    "review_tickets",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("variant", sa.String(64), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("caller", sa.String(255), nullable=False),
    sa.Column("key", sa.String(128), nullable=True),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("inputs", sa.Text, nullable=False),
    sa.Column("proposed", sa.Text, nullable=False),
    sa.Column("fallback", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("claimed_by", sa.String(255), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Column("decision", sa.Text, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("deadline_at", UTCDateTime, nullable=False),
    sa.Column("webhook", sa.Text, nullable=True),
    sa.Column("notified_at", UTCDateTime, nullable=True),
    sa.Index("ix_review_tickets_status_created_at", "status", "created_at"),
    sa.Index("ix_review_tickets_target", "target"),
)

governance_flags = sa.Table(
    "governance_flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("cleared_by", sa.String(255), nullable=True),
    sa.Column("cleared_at", UTCDateTime, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_hash", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Index("ix_erasures_subject_hash", "subject_hash"),
)
