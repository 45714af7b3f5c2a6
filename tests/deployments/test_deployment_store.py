"""The deployment store on SQLite and PostgreSQL: numbered immutable revisions, no-op
applies, history, deletion that keeps history, audit entries in the same transaction."""

from __future__ import annotations

import pytest
from deployment_support import apply_one, spec_of

from registry_backends import run_together
from shipyard.errors import InvalidName, InvalidRequest, NotFound
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.audit import AuditFilter


def test_revisions_are_numbered_and_kept(store: RegistryStore) -> None:
    deployments = store.deployments
    first = deployments.apply("fraud", *spec_of("fraud", 10), actor="user:a", source="cli", reason="first")
    assert first.changed and first.revision.revision == 1
    assert first.deployment.state == "active" and first.deployment.current_revision == 1
    second = deployments.apply("fraud", *spec_of("fraud", 20), actor="user:b", source="10.0.0.1")
    assert second.changed and second.revision.revision == 2
    history = deployments.history("fraud")
    assert [r.revision for r in history] == [1, 2]
    assert history[0].created_by == "user:a" and history[0].reason == "first" and history[0].source == "cli"
    assert history[1].created_by == "user:b" and history[1].reason is None
    assert history[0].spec["variants"]["c"]["weight"] == 10
    assert history[0].spec_yaml == "deployment: fraud\n# weight 10\n"
    assert deployments.revision("fraud", 1) == history[0]
    deployment, current = deployments.current("fraud")
    assert deployment.current_revision == 2 and current == history[1]
    assert [d.name for d in deployments.list()] == ["fraud"]


def test_applying_the_same_spec_adds_nothing(store: RegistryStore) -> None:
    spec_json, _ = spec_of("fraud")
    store.deployments.apply("fraud", spec_json, "deployment: fraud\n")
    again = store.deployments.apply("fraud", spec_json, "deployment: fraud   # reformatted\n", reason="again")
    assert not again.changed and again.revision.revision == 1
    assert again.revision.spec_yaml == "deployment: fraud\n"
    assert len(store.deployments.history("fraud")) == 1
    assert len(store.audit.list(AuditFilter(action="deployment.apply"))) == 1


def test_unknown_names_and_revisions(store: RegistryStore) -> None:
    with pytest.raises(NotFound, match="deployment 'nope' not found"):
        store.deployments.get("nope")
    with pytest.raises(NotFound):
        store.deployments.history("nope")
    store.deployments.apply("fraud", *spec_of("fraud"))
    with pytest.raises(NotFound, match="no revision 7"):
        store.deployments.revision("fraud", 7)
    with pytest.raises(InvalidRequest):
        store.deployments.revision("fraud", 0)
    with pytest.raises(InvalidName):
        store.deployments.apply("../x", *spec_of("x"))
    with pytest.raises(InvalidRequest):
        store.deployments.apply("x", "", "deployment: x\n")
    with pytest.raises(NotFound):
        store.deployments.delete("nope")
    assert [d.name for d in store.deployments.list()] == ["fraud"]


def test_delete_keeps_history_and_a_new_apply_continues_it(store: RegistryStore) -> None:
    spec_json, spec_yaml = spec_of("fraud")
    store.deployments.apply("fraud", spec_json, spec_yaml)
    store.deployments.apply("fraud", *spec_of("fraud", 30))
    deleted = store.deployments.delete("fraud", actor="user:ops", reason="retired")
    assert deleted.state == "deleted" and deleted.current_revision == 2
    assert store.deployments.list() == []
    assert [d.name for d in store.deployments.list(include_deleted=True)] == ["fraud"]
    assert [r.revision for r in store.deployments.history("fraud")] == [1, 2]
    with pytest.raises(NotFound):
        store.deployments.delete("fraud")
    with pytest.raises(NotFound):
        store.deployments.set_state("fraud", "paused")
    # The same spec as the last revision still makes a new one: the deployment comes back.
    revived = store.deployments.apply("fraud", *spec_of("fraud", 30))
    assert revived.changed and revived.revision.revision == 3 and revived.deployment.state == "active"
    entries = store.audit.list(AuditFilter(resource="deployment:fraud"))
    assert [e.action for e in entries] == ["deployment.apply"] * 2 + ["deployment.delete", "deployment.apply"]
    assert entries[2].actor == "user:ops" and entries[2].reason == "retired"
    assert entries[3].details["revived"] is True
    assert store.audit.verify().ok


def test_pause_and_resume_are_audited(store: RegistryStore) -> None:
    store.deployments.apply("fraud", *spec_of("fraud"))
    assert store.deployments.set_state("fraud", "paused", actor="user:a").state == "paused"
    assert store.deployments.set_state("fraud", "paused").state == "paused"
    # A new spec keeps a paused deployment paused.
    assert store.deployments.apply("fraud", *spec_of("fraud", 40)).deployment.state == "paused"
    assert store.deployments.set_state("fraud", "active").state == "active"
    with pytest.raises(InvalidRequest):
        store.deployments.set_state("fraud", "deleted")
    actions = [e.action for e in store.audit.list(AuditFilter(resource="deployment:fraud"))]
    assert actions == ["deployment.apply", "deployment.pause", "deployment.apply", "deployment.resume"]
    assert store.audit.verify().ok


def test_audit_entries_carry_the_revision(store: RegistryStore) -> None:
    store.deployments.apply("fraud", *spec_of("fraud"), actor="user:a", source="cli", reason="go")
    store.deployments.apply("fraud", *spec_of("fraud", 50), actor="user:a", source="cli")
    entries = store.audit.list(AuditFilter(action="deployment.apply"))
    assert [e.details for e in entries] == [{"revision": 1, "previous": None}, {"revision": 2, "previous": 1}]
    assert entries[0].reason == "go" and entries[0].source == "cli"
    assert store.audit.verify().ok


WRITERS = 12


@pytest.mark.slow
def test_concurrent_applies_never_duplicate_a_revision(db_url: str) -> None:
    results = run_together(apply_one, [(db_url, "shared")] * WRITERS)
    errors = [detail for _, status, detail in results if status != "ok"]
    assert errors == []
    assert sorted(n for _, _, n in results) == list(range(1, WRITERS + 1))
    with RegistryStore(db_url) as store:
        history = store.deployments.history("shared")
        assert [r.revision for r in history] == list(range(1, WRITERS + 1))
        assert sorted(r.created_by for r in history) == sorted(f"user:w{i}" for i in range(WRITERS))
        assert store.deployments.get("shared").current_revision in range(1, WRITERS + 1)
        assert len(store.audit.list(AuditFilter(action="deployment.apply"))) == WRITERS
        assert store.audit.verify().ok
