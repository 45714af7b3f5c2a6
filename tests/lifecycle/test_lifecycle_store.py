"""Version lifecycle in the registry store, on SQLite and PostgreSQL: each change, its audit
entry in the same transaction, and every refusal with its error class."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lifecycle_support import versions

from shipyard.errors import Conflict, InvalidName, InvalidRequest, VersionNotFound
from shipyard.registry.lifecycle import parse_when
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.audit import AuditFilter

FUTURE = datetime(2099, 3, 1, tzinfo=UTC)


def actions(store: RegistryStore, resource: str) -> list[tuple[str, dict[str, object]]]:
    entries = store.audit.list(AuditFilter(resource=resource, limit=None))
    return [
        (e.action, dict(e.details))
        for e in entries
        if e.action.startswith("version.") and e.action != "version.register"
    ]


def test_deprecate_retire_reinstate_with_their_audit_entries(store: RegistryStore) -> None:
    versions(store, "fraud", 5)
    record = store.lifecycle.deprecate(
        "fraud", 3, sunset_at=FUTURE, successor="fraud/5", actor="user:ann", source="test", reason="v5 is better"
    )
    assert (record.lifecycle, record.sunset_at, record.successor) == ("deprecated", FUTURE, "fraud/5")
    assert record.deprecated_at is not None and record.retired_at is None
    assert record.lifecycle_reason == "v5 is better"
    # Read back through every path, and in the JSON.
    again = store.get_version("fraud", 3)
    assert again.lifecycle_state == record.lifecycle_state
    listed = {v.version: v.lifecycle for v in store.list_versions("fraud")}
    assert listed == {1: "active", 2: "active", 3: "deprecated", 4: "active", 5: "active"}
    as_json = again.to_dict()
    assert as_json["lifecycle"] == "deprecated" and as_json["sunset_at"] == "2099-03-01T00:00:00+00:00"
    assert as_json["successor"] == "fraud/5" and as_json["archived_at"] is None

    # Deprecating again replaces the announcement; deprecated_at stays the first one.
    later = store.lifecycle.deprecate("fraud", 3, successor="fraud@production", actor="user:ann", source="test")
    assert later.sunset_at is None and later.successor == "fraud@production"
    assert later.deprecated_at == record.deprecated_at

    retired = store.lifecycle.retire("fraud", 3, actor="user:bob", source="test")
    assert retired.lifecycle == "retired" and retired.retired_at is not None
    assert retired.successor == "fraud@production", "the successor the deprecation named is kept"

    back = store.lifecycle.reinstate("fraud", 3, actor="user:bob", source="test", reason="rollback")
    assert back.lifecycle == "active"
    assert (back.deprecated_at, back.sunset_at, back.successor, back.retired_at) == (None, None, None, None)

    entries = actions(store, "fraud/3")
    assert [a for a, _ in entries] == ["version.deprecate", "version.deprecate", "version.retire", "version.reinstate"]
    assert entries[0][1] == {
        "lifecycle": "deprecated",
        "previous": "active",
        "sunset_at": "2099-03-01T00:00:00+00:00",
        "successor": "fraud/5",
    }
    assert entries[2][1]["previous"] == "deprecated" and entries[3][1]["previous"] == "retired"
    full = store.audit.list(AuditFilter(resource="fraud/3", limit=None))
    assert {e.actor for e in full if e.action != "version.register"} == {"user:ann", "user:bob"}
    assert full[-1].reason == "rollback"
    assert store.audit.verify().ok


def test_a_retired_version_and_aliases_exclude_each_other(store: RegistryStore) -> None:
    versions(store, "fraud", 3)
    store.set_alias("fraud", "production", 2)
    store.set_alias("fraud", "shadow", 2)
    with pytest.raises(Conflict, match=r"fraud@production, fraud@shadow points at it") as refused:
        store.lifecycle.retire("fraud", 2, successor="fraud/3")
    assert refused.value.details["aliases"] == ["production", "shadow"]
    assert store.get_version("fraud", 2).lifecycle == "active", "nothing changed"
    assert actions(store, "fraud/2") == []

    store.set_alias("fraud", "production", 3)
    store.delete_alias("fraud", "shadow")
    store.lifecycle.retire("fraud", 2, successor="fraud/3")
    with pytest.raises(
        Conflict, match=r"fraud/2 is retired: fraud@canary cannot point at it; .* successor fraud/3"
    ) as to:
        store.set_alias("fraud", "canary", 2)
    assert to.value.details["successor"] == "fraud/3"
    assert "canary" not in store.aliases("fraud")


def test_bad_inputs_are_refused_with_clear_errors(store: RegistryStore) -> None:
    versions(store, "fraud", 3)
    versions(store, "other", 1)
    past = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(InvalidRequest, match="is in the past"):
        store.lifecycle.deprecate("fraud", 1, sunset_at=past)
    with pytest.raises(InvalidRequest, match="cannot be its own successor"):
        store.lifecycle.deprecate("fraud", 1, successor="fraud/1")
    with pytest.raises(InvalidRequest, match="model 'fraud' has no version 9"):
        store.lifecycle.deprecate("fraud", 1, successor="fraud/9")
    with pytest.raises(InvalidRequest, match="there is no model 'nope'"):
        store.lifecycle.retire("fraud", 1, successor="nope@production")
    with pytest.raises(InvalidName):
        store.lifecycle.deprecate("fraud", 1, successor="../etc")
    with pytest.raises(VersionNotFound):
        store.lifecycle.deprecate("fraud", 7)
    with pytest.raises(InvalidName):
        store.lifecycle.retire("fraud", 0)
    with pytest.raises(Conflict, match="active already"):
        store.lifecycle.reinstate("fraud", 1)
    # A successor in another model is fine; a retired successor is not.
    assert store.lifecycle.deprecate("fraud", 1, successor="other/1").successor == "other/1"
    store.lifecycle.retire("fraud", 2)
    with pytest.raises(InvalidRequest, match="retired itself"):
        store.lifecycle.deprecate("fraud", 3, successor="fraud/2")
    with pytest.raises(Conflict, match="retired already"):
        store.lifecycle.retire("fraud", 2)
    with pytest.raises(Conflict, match="retired already"):
        store.lifecycle.deprecate("fraud", 2)
    # Archive marks: only a retired version, restore only an archived one.
    with pytest.raises(Conflict, match="only a retired version"):
        store.lifecycle.mark_archived("fraud", 3, details={})
    with pytest.raises(Conflict, match="not archived"):
        store.lifecycle.mark_restored("fraud", 2, details={})
    store.lifecycle.mark_archived("fraud", 2, details={"artifacts": []})
    with pytest.raises(Conflict, match="archived already"):
        store.lifecycle.mark_archived("fraud", 2, details={})
    with pytest.raises(Conflict, match="restore its artifacts before") as archived:
        store.lifecycle.reinstate("fraud", 2)
    assert archived.value.hint == "shipyard models restore fraud/2"
    assert [a for a, _ in actions(store, "fraud/2")] == ["version.retire", "version.archive"]


def test_states_reads_every_non_active_version_of_the_named_models_at_once(store: RegistryStore) -> None:
    versions(store, "fraud", 3)
    versions(store, "ranker", 2)
    store.lifecycle.deprecate("fraud", 1, sunset_at=FUTURE)
    store.lifecycle.retire("fraud", 2, successor="fraud/3")
    store.lifecycle.retire("ranker", 1)
    states = store.lifecycle.states(["fraud"])
    assert sorted(states) == [("fraud", 1), ("fraud", 2)]
    assert states[("fraud", 2)].state == "retired" and states[("fraud", 2)].successor == "fraud/3"
    assert states[("fraud", 1)].sunset_at == FUTURE
    assert sorted(store.lifecycle.states(["fraud", "ranker", "unknown"])) == [("fraud", 1), ("fraud", 2), ("ranker", 1)]
    assert store.lifecycle.states([]) == {}


def test_parse_when_reads_dates_and_times_as_utc() -> None:
    assert parse_when("2027-03-01") == datetime(2027, 3, 1, tzinfo=UTC)
    assert parse_when("2027-03-01T12:30:00") == datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    assert parse_when("2027-03-01T12:30:00+02:00") == datetime(2027, 3, 1, 10, 30, tzinfo=UTC)
    assert parse_when("2027-03-01T12:30:00Z") == datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    for bad in ("", "tomorrow", "2027-13-01", "2027-03-01T25:00", "x" * 100):
        with pytest.raises(InvalidRequest):
            parse_when(bad)


def test_a_version_a_live_deployment_serves_cannot_be_retired(store: RegistryStore) -> None:
    versions(store, "fraud", 3)
    spec = (
        '{"deployment":"fraud","variants":{"stable":{"model":"fraud/1","role":"primary"},'
        '"candidate":{"model":"fraud/2","role":"canary","weight":10}}}'
    )
    store.deployments.apply("fraud", spec, "deployment: fraud\n", actor="user:test")
    with pytest.raises(Conflict, match=r"fraud/2 cannot be retired: deployment fraud serves it") as refused:
        store.lifecycle.retire("fraud", 2, successor="fraud/3")
    assert refused.value.details["deployments"] == ["fraud"]
    assert store.get_version("fraud", 2).lifecycle == "active", "nothing changed"
    store.lifecycle.retire("fraud", 3)  # no deployment names it
    store.deployments.delete("fraud", actor="user:test")
    assert store.lifecycle.retire("fraud", 2).lifecycle == "retired"  # a deleted deployment serves nothing
