"""The governance policy: what each risk tier needs before a version may take a protected
alias or deployment traffic beyond shadow. Pure: parse and check the YAML, the default
policy, and what is missing given the facts (``registry/sql/gate.py`` gathers them).

The policy is YAML, versioned in the registry (``registry/sql/policies.py``, changed only
with the ``governance.admin`` scope); with none stored, :data:`DEFAULT_POLICY_TEXT` is in
force::

    default_tier: minimal             # the tier of a model with none set
    protected_aliases: [production]   # aliases the gate guards
    approval_expiry_days: 90          # default expiry of an approval request
    tiers:
      minimal: {}
      limited: {approvals: 1}
      high:
        approvals: 2
        separation_of_duties: true    # default true wherever approvals > 0
        card_fields: [intended_use, ...]
        metrics: {accuracy: 0.9, log_loss: {max: 0.5}}
        fairness_report: true
        review_rule: true

Identities are compared normalised (:func:`normalise_actor`): ``user:alice`` is ``alice``;
an API key is ``key:<id>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from shipyard.errors import InvalidRequest

TIERS: tuple[str, ...] = ("minimal", "limited", "high")
"""The risk tiers, in the EU AI Act's vocabulary, lowest first."""
MAX_POLICY_BYTES = 64 * 1024
MAX_EXPIRY_DAYS = 3650
_TIER_KEYS = frozenset(
    {"approvals", "separation_of_duties", "card_fields", "metrics", "fairness_report", "review_rule"}
)
_TOP_KEYS = frozenset({"default_tier", "protected_aliases", "approval_expiry_days", "tiers"})
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")  # as registry/refs.check_alias
_FIELD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

DEFAULT_POLICY_TEXT = """\
default_tier: minimal
protected_aliases: [production]
approval_expiry_days: 90
tiers:
  minimal: {}
  limited: {approvals: 1}
  high:
    approvals: 2
    separation_of_duties: true
    card_fields: [intended_use, out_of_scope_use, limitations, risks, training_data, evaluation, owners]
    metrics: {}
    fairness_report: true
    review_rule: true
"""


@dataclass(frozen=True)
class Threshold:
    """A metric bound: the version's metric must be at least ``minimum`` / at most ``maximum``."""

    minimum: float | None = None
    maximum: float | None = None

    def failed_by(self, value: float | None) -> str | None:
        """Why ``value`` fails the bound (None: it passes)."""
        if value is None:
            return "not recorded"
        if self.minimum is not None and not value >= self.minimum:
            return f"{value:g} < {self.minimum:g}"
        if self.maximum is not None and not value <= self.maximum:
            return f"{value:g} > {self.maximum:g}"
        return None

    def to_dict(self) -> float | dict[str, float]:
        if self.maximum is None and self.minimum is not None:
            return self.minimum
        out: dict[str, float] = {}
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out


@dataclass(frozen=True)
class TierRequirements:
    approvals: int = 0
    separation_of_duties: bool = False
    card_fields: tuple[str, ...] = ()
    metrics: Mapping[str, Threshold] = field(default_factory=dict)
    fairness_report: bool = False
    review_rule: bool = False

    @property
    def empty(self) -> bool:
        return not (self.approvals or self.card_fields or self.metrics or self.fairness_report or self.review_rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "approvals": self.approvals,
            "separation_of_duties": self.separation_of_duties,
            "card_fields": list(self.card_fields),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "fairness_report": self.fairness_report,
            "review_rule": self.review_rule,
        }


@dataclass(frozen=True)
class Policy:
    default_tier: str
    protected_aliases: tuple[str, ...]
    approval_expiry_days: int
    tiers: Mapping[str, TierRequirements]

    def requirements(self, tier: str) -> TierRequirements:
        return self.tiers.get(tier, TierRequirements())

    def protects(self, alias: str) -> bool:
        return alias in self.protected_aliases

    def to_dict(self) -> dict[str, Any]:
        return {
            "default_tier": self.default_tier,
            "protected_aliases": list(self.protected_aliases),
            "approval_expiry_days": self.approval_expiry_days,
            "tiers": {name: self.tiers[name].to_dict() for name in TIERS},
        }


@dataclass(frozen=True)
class Facts:
    """What the registry knows about one version, as the gate needs it."""

    approvers: Sequence[str] = ()
    """Distinct (normalised) actors with a counting approval."""
    card_gaps: Sequence[str] = ()
    """Required card fields that are empty."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    fairness_report: bool = False
    review_rule: bool = False


def missing(requirements: TierRequirements, facts: Facts) -> list[str]:
    """What ``facts`` still lack for ``requirements``, one phrase per item (empty: allowed)."""
    out: list[str] = []
    have = len(set(facts.approvers))
    if have < requirements.approvals:
        more = requirements.approvals - have
        out.append(f"{more} more approval{'s' if more > 1 else ''} (has {have} of {requirements.approvals})")
    if facts.card_gaps:
        out.append("model card fields " + ", ".join(facts.card_gaps))
    for name, bound in requirements.metrics.items():
        why = bound.failed_by(facts.metrics.get(name))
        if why is not None:
            out.append(f"metric {name} ({why})")
    if requirements.fairness_report and not facts.fairness_report:
        out.append("a fairness report on the reference data (shipyard card fairness)")
    if requirements.review_rule and not facts.review_rule:
        out.append("a human-review rule in the serving controls")
    return out


def normalise_actor(actor: str) -> str:
    """One spelling per identity: ``user:alice`` and ``alice`` are ``alice``; ``key:<id>`` stays."""
    text = actor.strip()
    return text[5:] if text.startswith("user:") else text


def check_tier(tier: Any) -> str:
    if not isinstance(tier, str) or tier not in TIERS:
        raise InvalidRequest(f"unknown risk tier {str(tier)[:40]!r}: a tier is one of {', '.join(TIERS)}", field="tier")
    return tier


def parse_policy(text: str | bytes, *, source: str = "policy") -> Policy:
    """The policy in ``text`` (YAML); ``InvalidRequest`` naming the field that is wrong."""
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise InvalidRequest(f"{source}: a policy is at most {MAX_POLICY_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"{source}: a policy is UTF-8 text") from exc
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise InvalidRequest(f"{source}: a policy is at most {MAX_POLICY_BYTES} bytes")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidRequest(f"{source}: not valid YAML{where}", hint="see docs/governance.md") from None
    return policy_from_document(document, source=source)


def policy_from_document(document: Any, *, source: str = "policy") -> Policy:
    def bad(where: str, message: str) -> InvalidRequest:
        return InvalidRequest(f"{source}: {where}: {message}", hint="see docs/governance.md", field=where)

    if not isinstance(document, Mapping):
        raise InvalidRequest(f"{source}: a policy is a YAML mapping", hint="see docs/governance.md")
    unknown = sorted(str(k) for k in document if k not in _TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown field (expected: {', '.join(sorted(_TOP_KEYS))})")
    default_tier = document.get("default_tier", "minimal")
    if default_tier not in TIERS:
        raise bad("default_tier", f"must be one of {', '.join(TIERS)}")
    aliases = document.get("protected_aliases", ["production"])
    if not isinstance(aliases, list) or len(aliases) > 100:
        raise bad("protected_aliases", "must be a list of aliases (at most 100)")
    checked: list[str] = []
    for i, alias in enumerate(aliases):
        if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias.isdigit():
            raise bad(f"protected_aliases.{i}", "an alias: letters, digits, '_' and '-', starting with a letter")
        checked.append(alias)
    expiry = document.get("approval_expiry_days", 90)
    if isinstance(expiry, bool) or not isinstance(expiry, int) or not 1 <= expiry <= MAX_EXPIRY_DAYS:
        raise bad("approval_expiry_days", f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
    tiers_doc = document.get("tiers") or {}
    if not isinstance(tiers_doc, Mapping):
        raise bad("tiers", "must be a mapping of tier name to requirements")
    for name in tiers_doc:
        if name not in TIERS:
            raise bad(f"tiers.{name}", f"unknown tier (the tiers are {', '.join(TIERS)})")
    # A tier the document leaves out keeps the default policy's requirements (write `tier: {}`
    # for one that needs nothing): leaving a line out never loosens the gate.
    defaults = _DEFAULT_TIERS or {}
    tiers = {
        name: _tier(tiers_doc[name] or {}, f"tiers.{name}", bad)
        if name in tiers_doc
        else defaults.get(name, TierRequirements())
        for name in TIERS
    }
    return Policy(default_tier, tuple(dict.fromkeys(checked)), expiry, tiers)


def _tier(doc: Any, where: str, bad: Any) -> TierRequirements:
    if not isinstance(doc, Mapping):
        raise bad(where, "a tier's requirements are a mapping")
    unknown = sorted(str(k) for k in doc if k not in _TIER_KEYS)
    if unknown:
        raise bad(f"{where}.{unknown[0]}", f"unknown requirement (expected: {', '.join(sorted(_TIER_KEYS))})")
    approvals = doc.get("approvals", 0)
    if isinstance(approvals, bool) or not isinstance(approvals, int) or not 0 <= approvals <= 20:
        raise bad(f"{where}.approvals", "must be a whole number from 0 to 20")
    sod = doc.get("separation_of_duties", approvals > 0)
    for key in ("fairness_report", "review_rule"):
        if not isinstance(doc.get(key, False), bool):
            raise bad(f"{where}.{key}", "must be true or false")
    if not isinstance(sod, bool):
        raise bad(f"{where}.separation_of_duties", "must be true or false")
    fields = doc.get("card_fields", [])
    if not isinstance(fields, list) or len(fields) > 100:
        raise bad(f"{where}.card_fields", "must be a list of card field names (at most 100)")
    for i, name in enumerate(fields):
        if not isinstance(name, str) or not 1 <= len(name) <= 64 or not set(name) <= _FIELD_CHARS:
            raise bad(f"{where}.card_fields.{i}", "a card field is a name of lowercase letters, digits and _")
    metrics_doc = doc.get("metrics", {}) or {}
    if not isinstance(metrics_doc, Mapping) or len(metrics_doc) > 100:
        raise bad(f"{where}.metrics", "must be a mapping of metric name to a minimum, or to {min:, max:}")
    metrics = {str(k): _threshold(v, f"{where}.metrics.{k}", bad) for k, v in metrics_doc.items()}
    return TierRequirements(
        approvals=approvals,
        separation_of_duties=sod,
        card_fields=tuple(dict.fromkeys(fields)),
        metrics=metrics,
        fairness_report=bool(doc.get("fairness_report", False)),
        review_rule=bool(doc.get("review_rule", False)),
    )


def _threshold(value: Any, where: str, bad: Any) -> Threshold:
    def number(v: Any, what: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise bad(where, f"{what} must be a finite number")
        return float(v)

    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in ("min", "max"))
        if unknown or not value:
            raise bad(where, "a bound is {min: X}, {max: Y} or both")
        low = number(value["min"], "min") if "min" in value else None
        high = number(value["max"], "max") if "max" in value else None
        if low is not None and high is not None and low > high:
            raise bad(where, "min is above max")
        return Threshold(low, high)
    return Threshold(number(value, "a minimum"), None)


_DEFAULT_TIERS: Mapping[str, TierRequirements] | None = None
DEFAULT_POLICY = parse_policy(DEFAULT_POLICY_TEXT, source="the default policy")
_DEFAULT_TIERS = DEFAULT_POLICY.tiers
