"""Scopes, the roles that bundle them, and grants narrowed to models by name pattern.

Every route declares the one scope it needs (``shipyard.http.routes``). A key holds grants;
a grant is a role plus the model-name patterns it covers (``fnmatch`` globs, case-sensitive).
A model-scoped check (``allows(scope, model)``) needs a grant whose role has the scope and
whose patterns match the model. A global check (``allows(scope)``: keys, audit, metrics,
trust) needs a grant whose patterns include ``*`` itself: a key narrowed to ``a*`` never
administers the whole server.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

MODELS_READ = "models.read"
"""Model, version and served-model metadata; readiness."""
INFER = "infer"
ARTIFACTS_READ = "artifacts.read"
"""Download a version's artifact (apart from predicting with it)."""
VERSIONS_WRITE = "versions.write"
"""Register new versions."""
ALIASES_WRITE = "aliases.write"
"""Move and delete aliases."""
DEPLOYMENTS_WRITE = "deployments.write"
APPROVALS_WRITE = "approvals.write"
"""Approve or reject a version's approval request (never one's own registration)."""
APPROVALS_REQUEST = "approvals.request"
"""Ask for a version's approval."""
CARDS_WRITE = "cards.write"
"""Edit the narrative fields of a version's model card."""
REVIEWS_WRITE = "reviews.write"
"""List, claim and decide predictions held for human review."""
GOVERNANCE_ADMIN = "governance.admin"
"""Change the policy, a model's risk tier, serving controls (review rules, guardrails, PII
marks, retention), and run retention and erasure."""
AUDIT_READ = "audit.read"
METRICS_READ = "metrics.read"
KEYS_ADMIN = "keys.admin"
TRUST_ADMIN = "trust.admin"
"""Upload formats that run code on load (pickle, joblib, Python classes) or extend the skops allowlist."""
SETTINGS_ADMIN = "settings.admin"
FEEDBACK = "feedback"
"""Record and read ground truth, outcomes and attributes of logged predictions (``POST /feedback``)."""

SCOPES: tuple[str, ...] = (
    MODELS_READ,
    INFER,
    ARTIFACTS_READ,
    VERSIONS_WRITE,
    ALIASES_WRITE,
    DEPLOYMENTS_WRITE,
    APPROVALS_WRITE,
    APPROVALS_REQUEST,
    CARDS_WRITE,
    REVIEWS_WRITE,
    GOVERNANCE_ADMIN,
    AUDIT_READ,
    METRICS_READ,
    KEYS_ADMIN,
    TRUST_ADMIN,
    SETTINGS_ADMIN,
    FEEDBACK,
)

ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset({MODELS_READ, METRICS_READ}),
    "predictor": frozenset({MODELS_READ, INFER, FEEDBACK}),
    "publisher": frozenset({MODELS_READ, VERSIONS_WRITE, ARTIFACTS_READ, APPROVALS_REQUEST, CARDS_WRITE}),
    "deployer": frozenset({MODELS_READ, ALIASES_WRITE, DEPLOYMENTS_WRITE, APPROVALS_REQUEST}),
    "approver": frozenset({MODELS_READ, APPROVALS_WRITE}),
    "reviewer": frozenset({MODELS_READ, REVIEWS_WRITE}),
    "auditor": frozenset({MODELS_READ, AUDIT_READ}),
    "admin": frozenset(SCOPES),
}

ANY_MODEL = "*"


@dataclass(frozen=True)
class Grant:
    """A role over the models whose names match one of ``models``."""

    role: str
    models: tuple[str, ...] = (ANY_MODEL,)

    @property
    def scopes(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def covers(self, scope: str, model: str | None = None) -> bool:
        if scope not in self.scopes:
            return False
        if model is None:
            return ANY_MODEL in self.models
        return any(fnmatchcase(model, pattern) for pattern in self.models)

    def to_dict(self) -> dict[str, object]:
        return {"role": self.role, "models": list(self.models)}


def allows(grants: tuple[Grant, ...], scope: str, model: str | None = None) -> bool:
    """Whether any grant gives ``scope`` on ``model`` (or globally when ``model`` is None)."""
    return any(g.covers(scope, model) for g in grants)


def allows_some(grants: tuple[Grant, ...], scope: str) -> bool:
    """Whether any grant gives ``scope`` on at least some models (list routes then filter)."""
    return any(scope in g.scopes for g in grants)


def matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def parse_patterns(text: str) -> tuple[str, ...]:
    """``"iris, fraud-*"`` → ``("iris", "fraud-*")``; empty text → no patterns."""
    return tuple(p.strip() for p in text.split(",") if p.strip())
