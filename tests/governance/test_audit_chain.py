"""The audit trail: a hash chain that names the first edited, deleted, inserted or reordered entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from governance_support import append_many, draft, raw_sql

from registry_backends import run_together
from shipyard.governance.chain import (
    GENESIS,
    AuditEntry,
    AuditEvent,
    entry_hash,
    event_of,
    parse_checkpoint,
    seal,
    verify,
)
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.audit import AuditFilter
from shipyard.registry.sql.tables import audit_log


def fill(store: RegistryStore, n: int = 6) -> list[AuditEntry]:
    return [
        store.audit.append(AuditEvent("user:alice", "local", "test.event", f"thing/{i}", details={"i": i}))
        for i in range(n)
    ]


def test_an_untouched_chain_verifies(store: RegistryStore) -> None:
    assert store.audit.verify().ok and store.audit.verify().checked == 0
    entries = fill(store)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS and entries[1].prev_hash == entries[0].hash
    report = store.audit.verify()
    assert report.ok and report.checked == 6
    assert report.checkpoint == f"6:{entries[-1].hash}"
    assert store.audit.list() == entries  # the stored entries read back exactly (times included)


def test_edit_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    with raw_sql(db_url) as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(actor="user:mallory"))
    report = store.audit.verify()
    assert (report.ok, report.bad_seq, report.problem) == (False, 3, "edited")
    assert report.checkpoint == f"2:{store.audit.list()[1].hash}"  # the intact prefix


def test_edit_of_details_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    with raw_sql(db_url) as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 5).values(details_json='{"i": 99}'))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (5, "edited")


def test_delete_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    with raw_sql(db_url) as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 3))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (3, "deleted")
    assert "3 to 3" in (report.reason or "")


def test_delete_and_renumber_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    with raw_sql(db_url) as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 3))
        for seq in (4, 5, 6):
            conn.execute(sa.update(audit_log).where(audit_log.c.seq == seq).values(seq=seq - 1))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (3, "deleted")


def test_reorder_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    with raw_sql(db_url) as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(seq=-3))
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 4).values(seq=3))
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == -3).values(seq=4))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (3, "reordered")


def test_insert_in_the_middle_is_named(store: RegistryStore, db_url: str) -> None:
    entries = fill(store)
    forged = seal(3, datetime.now(UTC), AuditEvent("user:mallory", "local", "key.create", "key:x"), entries[1].hash)
    with raw_sql(db_url) as conn:
        for seq in (6, 5, 4, 3):  # make room, last first (seq is the primary key)
            conn.execute(sa.update(audit_log).where(audit_log.c.seq == seq).values(seq=seq + 1))
        conn.execute(sa.insert(audit_log).values(**_row(forged)))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (3, "inserted")


def test_insert_with_a_broken_link_is_named(store: RegistryStore, db_url: str) -> None:
    fill(store)
    forged = seal(7, datetime.now(UTC), AuditEvent("user:mallory", "local", "key.create", "key:x"), "f" * 64)
    with raw_sql(db_url) as conn:
        conn.execute(sa.insert(audit_log).values(**_row(forged)))
    report = store.audit.verify()
    assert (report.bad_seq, report.problem) == (7, "inserted")


def test_hmac_catches_a_rewritten_chain(hmac_store: RegistryStore, db_url: str) -> None:
    entries = fill(hmac_store)
    assert all(e.mac for e in entries) and hmac_store.audit.verify().ok
    # The attacker edits entry 4 and rewrites every hash after it: without the key, the chain
    # alone looks valid; the HMAC does not.
    with raw_sql(db_url) as conn:
        prev = entries[2].hash
        for old in entries[3:]:
            event = event_of(old)
            if old.seq == 4:
                event = AuditEvent("user:mallory", event.source, event.action, event.resource)
            new = seal(old.seq, old.at, event, prev)
            conn.execute(sa.delete(audit_log).where(audit_log.c.seq == old.seq))
            conn.execute(sa.insert(audit_log).values(**_row(new, mac=old.mac)))
            prev = new.hash
    with RegistryStore(db_url) as without_key:
        assert without_key.audit.verify().ok
    report = hmac_store.audit.verify()
    assert (report.bad_seq, report.problem) == (4, "mac")


def test_a_wrong_hmac_key_is_named(hmac_store: RegistryStore, db_url: str) -> None:
    fill(hmac_store, 3)
    with RegistryStore(db_url, audit_hmac_key=b"another key") as other:
        report = other.audit.verify()
    assert (report.bad_seq, report.problem) == (1, "mac")


def test_tail_truncation_needs_the_checkpoint(store: RegistryStore, db_url: str) -> None:
    entries = fill(store)
    checkpoint = parse_checkpoint(store.audit.verify().checkpoint or "")
    with raw_sql(db_url) as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq >= 5))
    assert store.audit.verify().ok  # the documented limit: a shorter chain is still a chain
    report = store.audit.verify(expect_head=checkpoint)
    assert (report.ok, report.bad_seq, report.problem) == (False, 6, "truncated")
    assert store.audit.verify(expect_head=(3, entries[2].hash)).ok
    assert store.audit.verify(expect_head=(3, entries[3].hash)).problem == "edited"


@pytest.mark.parametrize("text", ["", "3", "x:ab", "3:" + "g" * 64, "3:" + "a" * 63, ":" + "a" * 64], ids=repr)
def test_bad_checkpoints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_checkpoint(text)


def test_verify_of_a_sealed_list_without_a_database() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    first = seal(1, at, AuditEvent("a", "b", "c", "d"), GENESIS, b"k")
    second = seal(2, at + timedelta(seconds=1), AuditEvent("a", "b", "c", "e"), first.hash, b"k")
    assert verify([first, second], hmac_key=b"k").ok
    assert verify([second]).problem == "deleted"
    assert entry_hash(1, at, event_of(first), GENESIS) == first.hash
    with pytest.raises(ValueError):
        AuditEvent("a", "b", "c", "d", outcome="maybe")


def test_filters(store: RegistryStore) -> None:
    fill(store, 3)
    store.audit.append(AuditEvent("key:abc", "10.0.0.1", "alias.set", "iris@prod"))
    assert [e.actor for e in store.audit.list(AuditFilter(actor="key:abc"))] == ["key:abc"]
    assert len(store.audit.list(AuditFilter(action="test.event"))) == 3
    assert [e.seq for e in store.audit.list(AuditFilter(after_seq=2, limit=1))] == [3]
    assert store.audit.list(AuditFilter(since=datetime.now(UTC) + timedelta(hours=1))) == []
    assert len(store.audit.list(AuditFilter(until=datetime.now(UTC) + timedelta(hours=1)))) == 4
    assert [e.seq for e in store.audit.iter_all(page=2)] == [1, 2, 3, 4]


def test_registration_and_alias_moves_are_audited_with_them(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    store.add_version("iris", draft(trusted_types=("x.Y",), unsafe_format=True), actor="key:abc", source="10.0.0.9")
    store.set_alias("iris", "prod", 1, actor="key:abc", source="10.0.0.9", reason="release")
    store.set_alias("iris", "prod", 2)
    store.delete_alias("iris", "prod", actor="key:def", source="10.0.0.10")
    got = [(e.action, e.resource, e.actor, e.source) for e in store.audit.list()]
    local = got[0][2]
    assert local.startswith("user:")
    assert got == [
        ("version.register", "iris/1", local, "local"),
        ("version.register", "iris/2", "key:abc", "10.0.0.9"),
        ("trust.grant", "iris/2", "key:abc", "10.0.0.9"),
        ("alias.set", "iris@prod", "key:abc", "10.0.0.9"),
        ("alias.set", "iris@prod", local, "local"),
        ("alias.delete", "iris@prod", "key:def", "10.0.0.10"),
    ]
    entries = store.audit.list()
    assert entries[2].details == {"trust_pickle": True, "trust_code": False, "trusted_types": ["x.Y"]}
    assert entries[3].reason == "release" and entries[4].details == {"version": 2, "previous": 1}
    assert store.audit.verify().ok


def test_a_failed_write_leaves_no_audit_entry(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    with pytest.raises(Exception):
        store.set_alias("iris", "prod", 7)  # no such version: the transaction rolls back
    with pytest.raises(Exception):
        store.delete_alias("iris", "nope")
    assert [e.action for e in store.audit.list()] == ["version.register"]


def test_concurrent_appends_from_processes_make_one_chain(db_url: str) -> None:
    RegistryStore(db_url, audit_hmac_key=b"k").close()  # migrate once, before the race
    results = run_together(append_many, [(db_url, 15)] * 6)
    assert [r[1] for r in results] == ["ok"] * 6, results
    with RegistryStore(db_url, audit_hmac_key=b"k") as store:
        entries = list(store.audit.iter_all())
        report = store.audit.verify()
    assert report.ok, report
    assert [e.seq for e in entries] == list(range(1, 91))
    assert len({e.resource for e in entries}) == 90


def _row(entry: AuditEntry, mac: str | None = None) -> dict[str, object]:
    import json

    return {
        "seq": entry.seq, "at": entry.at, "actor": entry.actor, "source": entry.source, "action": entry.action,
        "resource": entry.resource, "outcome": entry.outcome, "reason": entry.reason,
        "details_json": json.dumps(dict(entry.details)), "prev_hash": entry.prev_hash, "hash": entry.hash,
        "mac": mac if mac is not None else entry.mac,
    }  # fmt: skip
