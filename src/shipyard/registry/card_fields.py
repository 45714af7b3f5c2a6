"""The fields of a model card: which are narrative (written by people), and when each is filled.

A card (``registry/cards.py``) has generated sections (what the registry knows about a
version) and narrative fields on top (``model_cards`` revisions). A field named in a tier's
``card_fields`` counts as present when its narrative text is not blank, or, for the fields
the registry can fill itself, when the registry knows it:

    owners          the model's owner
    training_data   the training-data fingerprint of the version's lineage
    evaluation      evaluation metrics in the version's lineage
    slices          a sliced metric (``accuracy[sex=F]``) in the lineage
    profile         the reference profile of the training data
    fairness        a fairness report recorded on the card (``shipyard card fairness``)

Pure: no database, no I/O, so the gate (``registry/sql/cards.card_gaps``) and the card
builder agree on what "missing" means.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.registry.types import Lineage

NARRATIVE_FIELDS: dict[str, str] = {
    "summary": "What the model does, in a few sentences",
    "intended_use": "The uses the model was built and evaluated for",
    "out_of_scope_use": "Uses the model must not be put to",
    "users": "Who is meant to use the model's answers",
    "owners": "Who answers for the model (people or teams, with a contact)",
    "training_data": "Where the training data came from, how it was collected and labelled",
    "evaluation": "How the model was evaluated: data, method, thresholds",
    "slices": "How the model does on subgroups (sliced evaluation)",
    "limitations": "Known limitations: where it is weak or untested",
    "risks": "What can go wrong, and for whom",
    "mitigations": "What reduces those risks (review rules, guardrails, monitoring)",
    "ethical_considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations",
}
"""Editable text fields, in the order a card shows them."""

FAIRNESS_FIELD = "fairness"
"""A structured field: the fairness figures stored by ``shipyard card fairness``."""

GENERATED_FIELDS = ("profile",)
"""Fields only the registry fills (no narrative form)."""

MAX_FIELD_CHARS = 20_000
MAX_FAIRNESS_CHARS = 200_000
_SLICE = re.compile(r"^[^\[\]]+\[[^\[\]]+\]$")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab, newline and carriage return
    (an escape sequence in a card would reach the terminals that show it)."""
    return bool(_CONTROL.search(text))


def is_slice_metric(name: str) -> bool:
    """``accuracy[sex=F]``: a metric on a slice of the evaluation data."""
    return bool(_SLICE.match(name))


def narrative_names(policy_fields: Iterable[str] = ()) -> tuple[str, ...]:
    """The narrative fields, then any other field the policy requires of some tier (a policy
    may ask for a field of its own, e.g. ``dpia``), except the computed ones."""
    extra = [f for f in policy_fields if f not in NARRATIVE_FIELDS and f not in (FAIRNESS_FIELD, *GENERATED_FIELDS)]
    return (*NARRATIVE_FIELDS, *dict.fromkeys(extra))


def check_narrative(changes: Mapping[str, Any], policy_fields: Iterable[str] = ()) -> dict[str, str]:
    """``changes`` as ``{field: text}`` if every name is a narrative field (or one the policy
    requires) and every value a string within the limits; an empty string clears a field.
    ``InvalidRequest`` otherwise."""
    allowed = narrative_names(policy_fields)
    if not isinstance(changes, Mapping):
        raise InvalidRequest("card fields must be a mapping of field name to text")
    out: dict[str, str] = {}
    for name, value in changes.items():
        if name == FAIRNESS_FIELD:
            raise InvalidRequest(
                "the card field 'fairness' holds computed figures",
                hint="record them with `shipyard card fairness NAME/V --data FILE --label COL --sensitive COL`",
            )
        if name in GENERATED_FIELDS:
            raise InvalidRequest(f"the card field {name!r} comes from the registry (the version's lineage)")
        if not isinstance(name, str) or name not in allowed:
            shown = repr(name)[:80]
            raise InvalidRequest(f"unknown card field {shown}", hint=f"narrative fields: {', '.join(allowed)}")
        if not isinstance(value, str):
            raise InvalidRequest(f"card field {name!r} must be text, not {type(value).__name__}")
        if has_control(value):
            raise InvalidRequest(f"card field {name!r} contains a control character (only tab and newline are kept)")
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidRequest(f"card field {name!r} is longer than {MAX_FIELD_CHARS} characters")
        out[name] = value
    return out


def check_fairness(figures: Mapping[str, Any]) -> dict[str, Any]:
    """A fairness record to store: a JSON object with finite-or-null numbers, bounded size."""
    if not isinstance(figures, Mapping) or not figures:
        raise InvalidRequest("fairness figures must be a non-empty JSON object")
    _check_json(figures, "fairness")
    return dict(figures)


def _check_json(value: Any, where: str, depth: int = 0) -> None:
    if depth > 12:
        raise InvalidRequest(f"{where}: nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"{where}: numbers must be finite (use null for undefined)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequest(f"{where}: keys must be strings")
            _check_json(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_json(item, where, depth + 1)
        return
    raise InvalidRequest(f"{where}: {type(value).__name__} is not JSON")


def field_present(
    name: str, *, owner: str, lineage: Lineage, narrative: Mapping[str, str], fairness: Mapping[str, Any] | None
) -> bool:
    """Whether the card has ``name``: narrative text that is not blank, or what the registry knows."""
    if name == FAIRNESS_FIELD:
        return bool(fairness)
    if name == "profile":
        return bool(lineage.profile)
    if (narrative.get(name) or "").strip():
        return True
    if name == "owners":
        return bool(owner.strip())
    if name == "training_data":
        return lineage.training_data is not None
    if name == "evaluation":
        return bool(lineage.metrics)
    if name == "slices":
        return any(is_slice_metric(m) for m in lineage.metrics)
    return False


def gaps(
    required: Sequence[str],
    *,
    owner: str,
    lineage: Lineage,
    narrative: Mapping[str, str],
    fairness: Mapping[str, Any] | None,
) -> list[str]:
    """The names in ``required`` that the card lacks, in ``required``'s order, each once."""
    missing: list[str] = []
    for name in required:
        if name in missing:
            continue
        if not field_present(name, owner=owner, lineage=lineage, narrative=narrative, fairness=fairness):
            missing.append(name)
    return missing
