"""The gate where it is enforced: the registry store (aliases), rollout (deployments),
approvals with separation of duties, expiry, the policy's revisions, tiers, emergency
rollbacks and their flags, PII marks at registration. Real stores on SQLite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from policy_support import CARD, REVIEW, build_home, complete_high, register, spec

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PolicyRefused,
    SeparationOfDuties,
    VersionNotFound,
)
from shipyard.registry.sql.audit import AuditFilter
from shipyard.registry.sql.tables import approval_requests
from shipyard.rollout import operations
from shipyard.rollout.service import apply_spec


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("policy-template") / "home"
    build_home(home)
    return home


@pytest.fixture
def services(tmp_path: Path, template: Path) -> Iterator[Services]:
    shutil.copytree(template, tmp_path / "home")
    svc = open_home(tmp_path / "home")
    yield svc
    svc.close()


def actions(services: Services, action: str) -> list[dict[str, object]]:
    return [e.to_dict() for e in services.store.audit.list(AuditFilter(action=action, limit=1000))]


def test_minimal_needs_nothing(services: Services) -> None:
    store = services.store
    assert store.get_model("low").risk_tier == "minimal" and not store.get_model("low").tier_set
    store.set_alias("low", "production", 1)
    assert store.approvals.status("low", 1).allowed
    apply_spec(store, spec("lowdep", "low/1", "low/2", weight=50))


def test_limited_needs_one_approval(services: Services) -> None:
    store = services.store
    assert store.get_model("mid").risk_tier == "limited" and store.get_model("mid").tier_set
    with pytest.raises(PolicyRefused) as refused:
        store.set_alias("mid", "production", 1)
    assert refused.value.details["missing"] == ["1 more approval (has 0 of 1)"]
    assert "mid/1 (tier limited) cannot take mid@production: missing: 1 more approval" in refused.value.message
    assert refused.value.http_status == 409 and refused.value.exit_code == 13
    store.set_alias("mid", "staging", 1)  # unprotected aliases are free
    ask = store.approvals.request("mid", 1, comment="ready", actor="user:alice")
    assert store.approvals.approve(ask["id"], actor="user:bob")["status"] == "approved"
    store.set_alias("mid", "production", 1)
    assert store.aliases("mid")["production"] == 1
    # Approvals belong to a version: version 2 still needs its own.
    with pytest.raises(PolicyRefused):
        store.set_alias("mid", "production", 2)
    assert store.aliases("mid")["production"] == 1


def test_high_needs_everything_and_says_what_is_missing(services: Services) -> None:
    store = services.store
    with pytest.raises(PolicyRefused) as refused:
        store.set_alias("top", "production", 1)
    missing = refused.value.details["missing"]
    assert missing[0] == "2 more approvals (has 0 of 2)"
    assert missing[1].startswith("model card fields intended_use, out_of_scope_use, limitations, risks")
    assert "owners" not in missing[1]  # the model's owner fills it
    assert missing[2:] == [
        "a fairness report on the reference data (shipyard card fairness)",
        "a human-review rule in the serving controls",
    ]
    ask = store.approvals.request("top", 1, comment="go", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:bob")
    store.cards.edit("top", 1, {k: v for k, v in CARD.items() if k != "risks"}, actor="user:carol")
    with pytest.raises(PolicyRefused) as refused:
        store.set_alias("top", "production", 1)
    assert refused.value.details["missing"][:2] == ["1 more approval (has 1 of 2)", "model card fields risks"]
    complete_high(services, "top", 1)
    with pytest.raises(PolicyRefused) as refused:
        store.set_alias("top", "production", 1)
    assert refused.value.message.endswith("missing: 1 more approval (has 1 of 2)")
    assert store.approvals.approve(ask["id"], actor="user:carol")["status"] == "approved"
    store.set_alias("top", "production", 1)
    status = store.approvals.status("top", 1)
    assert status.allowed and status.approvers == ["bob", "carol"] and status.tier == "high"
    assert status.to_dict()["approvals"][0]["votes"][1]["actor"] == "carol"


def test_separation_of_duties(services: Services) -> None:
    store = services.store
    complete_high(services, "top", 1)
    ask = store.approvals.request("top", 1, comment="go", actor="user:alice")
    # The registrant may not approve, however it is spelled (admins included: no exemption).
    for spelling in ("user:alice", "alice"):
        with pytest.raises(SeparationOfDuties) as caught:
            store.approvals.approve(ask["id"], actor=spelling)
        assert caught.value.http_status == 403
    # One approver twice on the same request: 409; on a second request: counted once.
    store.approvals.approve(ask["id"], actor="user:bob")
    with pytest.raises(Conflict, match="voted on approval request"):
        store.approvals.approve(ask["id"], actor="bob")
    again = store.approvals.request("top", 1, comment="again", actor="user:alice")
    store.approvals.approve(again["id"], actor="user:bob")
    status = store.approvals.status("top", 1)
    assert status.approvers == ["bob"] and status.missing == ["1 more approval (has 1 of 2)"]
    with pytest.raises(PolicyRefused):
        store.set_alias("top", "production", 1)
    # An API key is an identity too: two approvals from one key count once.
    store.approvals.approve(again["id"], actor="key:k1")
    assert store.approvals.status("top", 1).allowed
    # The registrant's own rejection is allowed (withdrawing), and closes the request.
    third = store.approvals.request("top", 1, comment="third", actor="user:alice")
    assert store.approvals.reject(third["id"], actor="user:alice")["status"] == "rejected"


def test_without_separation_the_registrant_counts(services: Services) -> None:
    store = services.store
    store.policies.set("tiers: {limited: {approvals: 1, separation_of_duties: false}}\n", actor="user:admin")
    ask = store.approvals.request("mid", 1, comment="mine", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:alice")
    store.set_alias("mid", "production", 1)


def test_rejection_and_expiry(services: Services) -> None:
    store = services.store
    ask = store.approvals.request("mid", 1, comment="first", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:bob")
    store.approvals.reject(ask["id"], actor="user:carol", comment="not yet")
    assert store.approvals.get(ask["id"])["status"] == "rejected"
    with pytest.raises(PolicyRefused):  # a rejected request's approvals do not count
        store.set_alias("mid", "production", 1)
    with pytest.raises(Conflict, match="rejected"):
        store.approvals.approve(ask["id"], actor="user:dave")
    fresh = store.approvals.request("mid", 1, comment="second", expires_in_days=1, actor="user:alice")
    assert store.approvals.approve(fresh["id"], actor="user:bob")["status"] == "approved"
    # A day passes (the row's expiry moved into the past).
    with store._engine.begin() as conn:
        past = store.approvals.get(fresh["id"])
        assert past["expires_at"] is not None
        conn.execute(
            sa.update(approval_requests)
            .where(approval_requests.c.id == fresh["id"])
            .values(expires_at=sa.func.datetime("now", "-1 hour"))
        )
    assert store.approvals.get(fresh["id"])["status"] == "expired"
    assert [a["id"] for a in store.approvals.list(status="expired")] == [fresh["id"]]
    assert store.approvals.list(name="mid", status="approved") == []
    with pytest.raises(PolicyRefused, match="has 0 of 1"):
        store.set_alias("mid", "production", 1)
    with pytest.raises(Conflict, match="expired"):
        store.approvals.approve(fresh["id"], actor="user:dave")
    # The policy's default expiry applies when the request names none.
    store.policies.set("approval_expiry_days: 3\n", actor="user:admin")
    third = store.approvals.request("mid", 1, comment="third", actor="user:alice")
    span = _parse(third["expires_at"]) - _parse(third["created_at"])
    assert span == timedelta(days=3)


def _parse(text: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_bad_approval_inputs(services: Services) -> None:
    store = services.store
    with pytest.raises(InvalidRequest, match="needs a comment"):
        store.approvals.request("mid", 1, comment="  ")
    with pytest.raises(InvalidRequest, match="at most"):
        store.approvals.request("mid", 1, comment="x" * 5000)
    for days in (0, -1, 4000, 1.5, True):
        with pytest.raises(InvalidRequest, match="expiry"):
            store.approvals.request("mid", 1, comment="c", expires_in_days=days)  # type: ignore[arg-type]
    with pytest.raises(VersionNotFound):
        store.approvals.request("mid", 9, comment="c")
    with pytest.raises(NotFound):
        store.approvals.request("nope", 1, comment="c")
    with pytest.raises(NotFound):
        store.approvals.approve(999, actor="user:bob")
    for bad in (0, -3, True, "1"):
        with pytest.raises(InvalidRequest):
            store.approvals.approve(bad, actor="user:bob")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="status"):
        store.approvals.list(status="maybe")
    with pytest.raises(InvalidRequest, match="needs the model"):
        store.approvals.list(version=1)
    with pytest.raises(InvalidRequest, match="purpose"):
        store.approvals.status("mid", 1, purpose="production")


def test_metric_thresholds(services: Services) -> None:
    store = services.store
    store.policies.set("tiers: {limited: {metrics: {accuracy: 0.9}}}\n", actor="user:admin")
    with pytest.raises(PolicyRefused, match=r"metric accuracy \(not recorded\)"):
        store.set_alias("mid", "production", 1)
    low = register(services, "mid", metrics={"accuracy": 0.8})
    with pytest.raises(PolicyRefused, match=r"metric accuracy \(0.8 < 0.9\)"):
        store.set_alias("mid", "production", low)
    good = register(services, "mid", metrics={"accuracy": 0.95})
    store.set_alias("mid", "production", good)


def test_the_policy_is_versioned_and_audited(services: Services) -> None:
    store = services.store
    assert store.policies.current().revision == 0
    first = store.policies.set("protected_aliases: [production, gold]\n", actor="user:admin", reason="gold too")
    assert first.revision == 1 and store.policies.current().policy.protects("gold")
    with pytest.raises(PolicyRefused):
        store.set_alias("mid", "gold", 1)
    with pytest.raises(InvalidRequest, match="default_tier"):
        store.policies.set("default_tier: nope\n")
    assert store.policies.current().revision == 1  # a refused policy leaves nothing
    store.policies.set("default_tier: limited\n", actor="user:admin")
    assert store.get_model("low").risk_tier == "limited"  # no tier set: the new default
    assert [m.risk_tier for m in store.list_models()] == ["limited", "limited", "high"]
    assert [p.revision for p in store.policies.history()] == [2, 1, 0]
    assert store.policies.revision(1).text == "protected_aliases: [production, gold]\n"
    with pytest.raises(NotFound):
        store.policies.revision(7)
    entries = actions(services, "policy.set")
    assert [e["details"]["revision"] for e in entries] == [1, 2]  # type: ignore[index]
    assert entries[0]["reason"] == "gold too" and entries[0]["actor"] == "user:admin"


def test_tiers_at_registration_and_by_an_admin(services: Services) -> None:
    store = services.store
    register(services, "fresh", tier="high")
    assert store.get_model("fresh").risk_tier == "high"
    register(services, "fresh", tier="high")  # the tier in force: fine
    with pytest.raises(Forbidden, match="an admin changes tiers"):
        register(services, "fresh", tier="minimal")
    with pytest.raises(Forbidden):
        register(services, "low", tier="high")  # an existing model (default tier)
    register(services, "low", tier="minimal")  # the default in force: fine
    with pytest.raises(InvalidRequest, match="unknown risk tier"):
        register(services, "other", tier="extreme")
    assert store.list_models()[0].name == "fresh"
    model = store.set_tier("fresh", "minimal", actor="user:admin", reason="reassessed")
    assert model.risk_tier == "minimal" and model.tier_set
    with pytest.raises(InvalidRequest):
        store.set_tier("fresh", "none")
    with pytest.raises(NotFound):
        store.set_tier("ghost", "high")
    tiers = [(e["resource"], e["details"]) for e in actions(services, "model.tier")]
    assert ("fresh", {"tier": "minimal", "previous": "high"}) in tiers
    assert ("top", {"tier": "high", "previous": None}) in tiers


def test_deployment_gate(services: Services) -> None:
    store = services.store
    # A shadow is free, whatever the tier; a 0% canary too.
    apply_spec(store, spec("dep", "low/1", shadow="top/1"))
    apply_spec(store, spec("dep", "low/1", "top/1", weight=0))
    with pytest.raises(PolicyRefused) as refused:
        apply_spec(store, spec("dep", "low/1", "top/1", weight=10))
    assert refused.value.message.startswith("variant cand: top/1 (tier high) cannot take deployment 'dep'")
    assert store.deployments.current("dep")[1].revision == 2  # nothing stored
    with pytest.raises(PolicyRefused, match="variant cand: mid/1"):
        apply_spec(store, spec("dep", "low/1", "mid/1", weight=10))
    ask = store.approvals.request("mid", 1, comment="canary", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:bob")
    apply_spec(store, spec("dep", "low/1", "mid/1", weight=10))
    # A bare name (latest) of a governed model would let later versions in: refused.
    with pytest.raises(PolicyRefused, match="its latest version"):
        apply_spec(store, spec("dep2", "mid"))
    apply_spec(store, spec("dep3", "low"))  # minimal: fine
    # Promoting a canary gives its model the traffic: gated too.
    apply_spec(store, spec("dep4", "low/1", "top/2", weight=0))
    with pytest.raises(PolicyRefused, match="top/2"):
        operations.promote(store, "dep4", variant="cand")


def test_an_alias_a_deployment_serves_is_gated(services: Services) -> None:
    store = services.store
    ask = store.approvals.request("mid", 1, comment="c", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:bob")
    store.set_alias("mid", "staging", 1)
    apply_spec(store, spec("dep", "low/1", "mid@staging", weight=20))
    # Moving staging to an unapproved version would put it in front of callers: refused.
    with pytest.raises(PolicyRefused, match="deployment 'dep'"):
        store.set_alias("mid", "staging", 2)
    assert store.aliases("mid")["staging"] == 1


def test_emergency_rollbacks_are_allowed_audited_and_flagged(services: Services) -> None:
    store = services.store
    complete_high(services, "top", 1)
    complete_high(services, "top", 2)
    for version in (1, 2):
        ask = store.approvals.request("top", version, comment="c", actor="user:alice")
        store.approvals.approve(ask["id"], actor="user:bob")
        store.approvals.approve(ask["id"], actor="user:carol")
    store.set_alias("top", "production", 1)
    store.set_alias("top", "production", 2)
    # The policy tightens: version 1 no longer passes, yet a rollback to it is allowed.
    store.policies.set("tiers: {high: {approvals: 3}}\n", actor="user:admin", reason="three approvals from now on")
    done = store.rollback_alias("top", "production", actor="user:oncall", reason="bad answers")
    assert done["version"] == 1 and done["previous"] == 2 and done["emergency"] is True
    assert store.aliases("top")["production"] == 1
    entry = actions(services, "alias.rollback")[-1]
    assert entry["actor"] == "user:oncall" and entry["reason"] == "bad answers"
    assert entry["details"] == {"version": 1, "previous": 2, "emergency": True, "flag": done["flag"]}
    flags = store.flags.list()
    assert [(f.kind, f.target, f.actor) for f in flags] == [("emergency_rollback", "top@production", "user:oncall")]
    # Rolling back again goes to where it was before the rollback, or to --to.
    assert store.rollback_alias("top", "production")["version"] == 2
    assert store.rollback_alias("top", "production", to=1)["version"] == 1
    with pytest.raises(InvalidRequest, match="at version 1 already"):
        store.rollback_alias("top", "production", to=1)
    with pytest.raises(VersionNotFound):
        store.rollback_alias("top", "production", to=9)
    store.set_alias("low", "fresh", 1)
    with pytest.raises(InvalidRequest, match="no earlier version"):
        store.rollback_alias("low", "fresh")
    # Deployments: a rollback is never gated, and flagged the same way.
    store.policies.set("tiers: {high: {}}\n", actor="user:admin")
    apply_spec(store, spec("dep", "top/1"))
    store.policies.set("tiers: {high: {approvals: 9}}\n", actor="user:admin")
    apply_spec(store, spec("dep", "low/1"))
    operations.rollback(store, "dep", actor="user:oncall", reason="low is wrong")
    assert store.deployments.current("dep")[1].spec["variants"]["stable"]["model"] == "top/1"
    entry = actions(services, "deployment.rollback")[-1]
    assert entry["details"]["emergency"] is True  # type: ignore[index]
    flag = store.flags.get(entry["details"]["flag"])  # type: ignore[index]
    assert flag.target == "dep" and flag.details["reason"] == "low is wrong" and flag.open
    # An admin clears a flag with a note; audited; a second clear conflicts.
    cleared = store.flags.clear(flag.id, note="reviewed: fine", actor="user:admin")
    assert not cleared.open and cleared.cleared_by == "user:admin"
    assert flag.id not in [f.id for f in store.flags.list()]
    assert flag.id in [f.id for f in store.flags.list(include_cleared=True)]
    assert actions(services, "flag.clear")[-1]["reason"] == "reviewed: fine"
    with pytest.raises(Conflict):
        store.flags.clear(flag.id, note="again")
    with pytest.raises(InvalidRequest, match="needs a note"):
        store.flags.clear(done["flag"], note=" ")
    with pytest.raises(NotFound):
        store.flags.clear(999, note="x")


def test_every_decision_is_audited(services: Services) -> None:
    store = services.store
    ask = store.approvals.request("mid", 1, comment="please", actor="user:alice")
    store.approvals.approve(ask["id"], actor="user:bob", comment="ok")
    other = store.approvals.request("mid", 2, comment="please", actor="user:alice")
    store.approvals.reject(other["id"], actor="user:bob", comment="no")
    assert actions(services, "approval.request")[-1]["resource"] == "mid/2"
    approved = actions(services, "approval.approve")[-1]
    assert approved["actor"] == "user:bob" and approved["details"]["status"] == "approved"  # type: ignore[index]
    assert actions(services, "approval.reject")[-1]["reason"] == "no"
    assert store.audit.verify().ok


def test_pii_marks_at_registration(services: Services) -> None:
    store = services.store
    register(services, "pii", pii={"email": "hash"})
    assert dict(store.controls.get("pii").controls.pii) == {"email": "hash"}  # type: ignore[union-attr]
    register(services, "pii", pii={"email": "drop", "a": "keep"})  # stricter: fine
    assert dict(store.controls.get("pii").controls.pii) == {"email": "drop", "a": "keep"}  # type: ignore[union-attr]
    with pytest.raises(Forbidden, match="may not loosen"):
        register(services, "pii", pii={"email": "keep"})
    with pytest.raises(InvalidRequest, match="does not have"):
        register(services, "pii", pii={"phone": "hash"})
    with pytest.raises(InvalidRequest, match="drop, hash or keep"):
        register(services, "pii", pii={"email": "encrypt"})
    assert [v.version for v in store.list_versions("pii")] == [1, 2]  # refused ones left nothing
    store.controls.set("pii", {**REVIEW, "pii": {"email": "drop"}}, actor="user:admin")
    register(services, "pii", pii={"a": "hash"})  # merged, the review rules kept
    kept = store.controls.get("pii").controls  # type: ignore[union-attr]
    assert kept.review is not None and dict(kept.pii) == {"email": "drop", "a": "hash"}
