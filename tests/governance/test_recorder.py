"""The server's audit writer: synchronous, queued, and rate-limited denials."""

from __future__ import annotations

from shipyard.governance.chain import AuditEvent
from shipyard.registry.recorder import DENIED_WINDOW_SECONDS, AuditRecorder
from shipyard.registry.sql import RegistryStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_record_and_submit(store: RegistryStore) -> None:
    recorder = AuditRecorder(store.audit)
    entry = recorder.record(AuditEvent("key:a", "1.2.3.4", "settings.change", "x"))
    assert entry.seq == 1
    for i in range(20):
        assert recorder.submit(AuditEvent("key:a", "1.2.3.4", "alias.set", f"m@{i}"))
    recorder.close()
    entries = store.audit.list()
    assert [e.seq for e in entries] == list(range(1, 22))
    assert {e.resource for e in entries[1:]} == {f"m@{i}" for i in range(20)}
    assert not recorder.submit(AuditEvent("key:a", "x", "y", "z"))  # closed
    assert store.audit.verify().ok


def test_a_full_queue_drops_and_counts(store: RegistryStore) -> None:
    recorder = AuditRecorder(store.audit, queue_size=1)
    accepted = sum(recorder.submit(AuditEvent("key:a", "s", "alias.set", f"m@{i}")) for i in range(200))
    recorder.close()
    assert accepted + recorder.dropped == 200
    assert recorder.dropped > 0
    assert len(store.audit.list(None)) == accepted


def test_denials_are_rate_limited_per_source_and_reason(store: RegistryStore) -> None:
    clock = Clock()
    recorder = AuditRecorder(store.audit, denied_per_minute=5, clock=clock)

    def deny(source: str, reason: str = "unauthenticated") -> None:
        recorder.denied(actor="anonymous", source=source, action="auth.denied", resource="GET /x", reason=reason)

    for _ in range(100):
        deny("10.0.0.1")
    for _ in range(3):
        deny("10.0.0.2")
    deny("10.0.0.1", reason="forbidden")
    clock.now += DENIED_WINDOW_SECONDS  # a new window: the summary of the old one is written
    deny("10.0.0.1")
    recorder.close()
    entries = store.audit.list()
    by_source = [(e.source, e.reason) for e in entries if e.actor != "system"]
    assert by_source.count(("10.0.0.1", "unauthenticated")) == 6
    assert by_source.count(("10.0.0.2", "unauthenticated")) == 3
    assert by_source.count(("10.0.0.1", "forbidden")) == 1
    (summary,) = [e for e in entries if e.actor == "system"]
    assert summary.reason == "95 more suppressed" and summary.source == "10.0.0.1"
    assert summary.details["suppressed"] == 95 and summary.outcome == "denied"
    assert len(entries) < 20
    assert store.audit.verify().ok


def test_close_writes_the_pending_summary(store: RegistryStore) -> None:
    recorder = AuditRecorder(store.audit, denied_per_minute=2, clock=Clock())
    for _ in range(10):
        recorder.denied(actor="key:a", source="s", action="access.denied", resource="r", reason="forbidden")
    recorder.close()
    assert [e.reason for e in store.audit.list()] == ["forbidden", "forbidden", "8 more suppressed"]
