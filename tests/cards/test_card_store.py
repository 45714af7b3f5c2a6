"""The card store (``registry/sql/cards.py``) on each backend: revisions kept, edits audited
without their text, ``card_gaps`` as the gate reads it, and every bad input refused."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from card_support import FULL_NARRATIVE, HIGH_FIELDS, register_clf

from shipyard.bootstrap import Services
from shipyard.errors import InvalidRequest, ModelNotFound, NotFound, VersionNotFound
from shipyard.registry.card_fields import MAX_FIELD_CHARS, NARRATIVE_FIELDS
from shipyard.registry.sql.audit import AuditFilter
from shipyard.registry.sql.cards import card_gaps
from shipyard.registry.sql.tables import model_cards, models


def gaps_of(svc: Services, name: str, version: int, required: list[str]) -> list[str]:
    engine = svc.store._engine
    with engine.connect() as conn:
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar_one()
        return card_gaps(conn, model_id, version, required)


def test_a_new_version_has_revision_zero_and_no_history(svc: Services) -> None:
    latest = svc.store.cards.latest("clf", 1)
    assert (latest.revision, dict(latest.fields), latest.fairness) == (0, {}, None)
    assert svc.store.cards.history("clf", 1) == []


def test_every_edit_is_a_new_revision_and_every_revision_stays(svc: Services) -> None:
    cards = svc.store.cards
    first = cards.edit("clf", 1, {"intended_use": "Ranking", "risks": "Bias"}, actor="bob", reason="first draft")
    second = cards.edit("clf", 1, {"risks": "Bias against thin files", "limitations": "2024 only"}, actor="carol")
    third = cards.edit("clf", 1, {"intended_use": ""}, actor="bob")
    assert [first.revision, second.revision, third.revision] == [1, 2, 3]
    assert first.changed == ("intended_use", "risks") and first.reason == "first draft"
    assert second.changed == ("risks", "limitations")
    assert third.changed == ("intended_use",) and "intended_use" not in third.fields
    history = cards.history("clf", 1)
    assert [r.revision for r in history] == [1, 2, 3]
    assert history[0].fields == {"intended_use": "Ranking", "risks": "Bias"}
    assert history[1].fields == {
        "intended_use": "Ranking",
        "risks": "Bias against thin files",
        "limitations": "2024 only",
    }
    assert [r.actor for r in history] == ["bob", "carol", "bob"]
    assert cards.get("clf", 1, 1).fields == history[0].fields
    assert cards.latest("clf", 1).revision == 3


def test_an_edit_that_changes_nothing_writes_no_revision(svc: Services) -> None:
    cards = svc.store.cards
    cards.edit("clf", 1, {"intended_use": "Ranking"})
    again = cards.edit("clf", 1, {"intended_use": "Ranking"})
    assert again.revision == 1 and again.changed == ()
    assert len(cards.history("clf", 1)) == 1
    nothing = cards.edit("clf", 1, {"risks": ""})  # clearing what is not set
    assert nothing.revision == 1


def test_cards_are_per_version(svc: Services) -> None:
    register_clf(svc)
    svc.store.cards.edit("clf", 1, {"risks": "one"})
    assert svc.store.cards.latest("clf", 2).revision == 0
    svc.store.cards.edit("clf", 2, {"risks": "two"})
    assert svc.store.cards.latest("clf", 1).fields == {"risks": "one"}
    assert svc.store.cards.latest("clf", 2).fields == {"risks": "two"}


def test_edits_are_audited_with_field_names_never_their_text(svc: Services) -> None:
    secret = "canary-7c1f-narrative-text"
    svc.store.cards.edit("clf", 1, {"risks": secret}, actor="user:bob", source="10.0.0.1", reason="why")
    svc.store.cards.record_fairness("clf", 1, {"report": {"demographic_parity_difference": 0.1}}, actor="bob")
    entries = svc.store.audit.list(AuditFilter(resource="clf/1"))
    edits = [e for e in entries if e.action.startswith("card.")]
    assert [e.action for e in edits] == ["card.edit", "card.fairness"]
    assert edits[0].actor == "user:bob" and edits[0].source == "10.0.0.1" and edits[0].reason == "why"
    assert edits[0].details == {"revision": 1, "fields": ["risks"]}
    assert edits[1].details == {"revision": 2, "fields": ["fairness"]}
    assert secret not in json.dumps([e.to_dict() for e in entries])
    assert svc.store.audit.verify().ok


def test_fairness_is_kept_beside_the_narrative(svc: Services) -> None:
    cards = svc.store.cards
    cards.edit("clf", 1, {"risks": "Bias"})
    rev = cards.record_fairness("clf", 1, {"rows": 10, "report": {"groups": [], "ratio": None}})
    assert (
        rev.revision == 2
        and rev.fields == {"risks": "Bias"}
        and rev.fairness == {"rows": 10, "report": {"groups": [], "ratio": None}}
    )
    after = cards.edit("clf", 1, {"limitations": "Small"})
    assert after.fairness == rev.fairness


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bogus": "x"}, "unknown card field 'bogus'"),
        ({"fairness": "x"}, "holds computed figures"),
        ({"profile": "x"}, "comes from the registry"),
        ({"risks": 3}, "must be text, not int"),
        ({"risks": None}, "must be text, not NoneType"),
        ({"risks": ["a"]}, "must be text, not list"),
        ({"risks": "a\x00b"}, "control character"),
        ({"risks": "red \x1b[31m"}, "control character"),
        ({"risks": "bell \x07"}, "control character"),
        ({"risks": "c1 \x9b"}, "control character"),
        ({"risks": "x" * (MAX_FIELD_CHARS + 1)}, "longer than"),
        ({1: "x"}, "unknown card field 1"),
    ],
)
def test_bad_edits_are_refused_and_write_nothing(svc: Services, changes: dict[object, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        svc.store.cards.edit("clf", 1, changes)  # type: ignore[arg-type]
    assert svc.store.cards.history("clf", 1) == []


def test_a_field_at_the_limit_is_kept(svc: Services) -> None:
    assert svc.store.cards.edit("clf", 1, {"risks": "tab\tnew\nline\r\nok"}).revision == 1
    text = "é" * MAX_FIELD_CHARS
    assert svc.store.cards.edit("clf", 1, {"risks": text}).fields["risks"] == text
    assert svc.store.cards.latest("clf", 1).fields["risks"] == text


def test_bad_references_and_reasons(svc: Services) -> None:
    cards = svc.store.cards
    with pytest.raises(ModelNotFound):
        cards.edit("nope", 1, {"risks": "x"})
    with pytest.raises(VersionNotFound):
        cards.edit("clf", 9, {"risks": "x"})
    with pytest.raises(VersionNotFound):
        cards.latest("clf", 9)
    with pytest.raises(InvalidRequest):
        cards.latest("../etc", 1)
    with pytest.raises(InvalidRequest):
        cards.latest("clf", 0)
    with pytest.raises(NotFound, match="no revision 4"):
        cards.get("clf", 1, 4)
    with pytest.raises(InvalidRequest, match="reason"):
        cards.edit("clf", 1, {"risks": "x"}, reason="r" * 2001)
    with pytest.raises(InvalidRequest, match="control character"):
        cards.edit("clf", 1, {"risks": "x"}, reason="\x1b]0;title\x07")
    with pytest.raises(InvalidRequest):
        cards.edit("clf", 1, "risks=x")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="non-empty JSON object"):
        cards.record_fairness("clf", 1, {})
    with pytest.raises(InvalidRequest, match="finite"):
        cards.record_fairness("clf", 1, {"ratio": float("nan")})
    with pytest.raises(InvalidRequest, match="not JSON"):
        cards.record_fairness("clf", 1, {"when": object()})
    assert cards.history("clf", 1) == []


def test_card_gaps_counts_what_the_registry_knows(svc: Services) -> None:
    # owners (the model's owner), training_data (fingerprint), evaluation (metrics), slices
    # (a sliced metric) and profile come from the registry; the prose must be written.
    assert gaps_of(svc, "clf", 1, HIGH_FIELDS) == ["intended_use", "out_of_scope_use", "limitations", "risks"]
    assert gaps_of(svc, "clf", 1, ["slices", "profile", "fairness"]) == ["fairness"]
    svc.store.cards.edit("clf", 1, {k: FULL_NARRATIVE[k] for k in ("intended_use", "out_of_scope_use", "limitations")})
    assert gaps_of(svc, "clf", 1, HIGH_FIELDS) == ["risks"]
    svc.store.cards.edit("clf", 1, {"risks": "   \n "})  # blank text is not a field
    assert gaps_of(svc, "clf", 1, HIGH_FIELDS) == ["risks"]
    svc.store.cards.edit("clf", 1, {"risks": "Bias"})
    assert gaps_of(svc, "clf", 1, HIGH_FIELDS) == []
    svc.store.cards.record_fairness("clf", 1, {"report": {}, "rows": 3})
    assert gaps_of(svc, "clf", 1, ["fairness", "fairness"]) == []
    assert gaps_of(svc, "clf", 1, []) == []
    assert gaps_of(svc, "clf", 1, ["dpia"]) == ["dpia"]


def test_card_gaps_without_lineage_needs_the_narrative(svc: Services) -> None:
    register_clf(svc, "bare", lineage=False)
    svc.store.update_model("bare", owner="")
    assert gaps_of(svc, "bare", 1, ["owners", "training_data", "evaluation", "slices", "profile"]) == [
        "owners",
        "training_data",
        "evaluation",
        "slices",
        "profile",
    ]
    svc.store.cards.edit(
        "bare", 1, {"owners": "Risk team", "training_data": "Bureau data", "evaluation": "5-fold", "slices": "F: 0.9"}
    )
    assert gaps_of(svc, "bare", 1, ["owners", "training_data", "evaluation", "slices", "profile"]) == ["profile"]
    with pytest.raises(VersionNotFound):
        gaps_of(svc, "bare", 5, ["owners"])


def test_a_field_the_policy_names_can_be_written(svc: Services) -> None:
    with pytest.raises(InvalidRequest, match="unknown card field 'dpia'"):
        svc.store.cards.edit("clf", 1, {"dpia": "done"})
    policy = "tiers:\n  high:\n    approvals: 2\n    card_fields: [intended_use, dpia]\n"
    svc.store.policies.set(policy, actor="admin")
    assert "dpia" in svc.store.cards.narrative_names()
    assert svc.store.cards.edit("clf", 1, {"dpia": "done"}).fields == {"dpia": "done"}
    assert gaps_of(svc, "clf", 1, ["dpia"]) == []


def test_rows_hold_the_whole_narrative_per_revision(svc: Services) -> None:
    svc.store.cards.edit("clf", 1, {"risks": "a"})
    svc.store.cards.edit("clf", 1, {"limitations": "b"})
    with svc.store._engine.connect() as conn:
        rows = conn.execute(
            sa.select(model_cards.c.revision, model_cards.c.fields).order_by(model_cards.c.revision)
        ).all()
    assert [json.loads(r.fields)["fields"] for r in rows] == [{"risks": "a"}, {"risks": "a", "limitations": "b"}]


def test_every_narrative_field_round_trips(svc: Services) -> None:
    values = {name: f"text of {name}" for name in NARRATIVE_FIELDS}
    assert dict(svc.store.cards.edit("clf", 1, values).fields) == values
    assert dict(svc.store.cards.latest("clf", 1).fields) == values


def test_the_gate_reads_the_card(svc: Services) -> None:
    """H1's gate asks ``card_gaps`` inside ``set_alias``: the refusal names the card fields
    still missing, and they leave the list once written."""
    from shipyard.errors import PolicyRefused

    svc.store.set_tier("clf", "high", actor="admin")
    with pytest.raises(PolicyRefused) as refused:
        svc.store.set_alias("clf", "production", 1, actor="admin")
    card_lines = [m for m in refused.value.details["missing"] if "intended_use" in m]
    assert card_lines and "risks" in card_lines[0] and "owners" not in card_lines[0]
    svc.store.cards.edit("clf", 1, FULL_NARRATIVE)
    svc.store.cards.record_fairness("clf", 1, {"report": {}})
    status = svc.store.approvals.status("clf", 1)
    assert not any("intended_use" in m or "fairness" in m for m in status.missing)
    assert status.missing  # approvals and the review rule are still to come
