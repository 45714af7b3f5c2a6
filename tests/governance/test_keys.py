"""API keys: the token format, storage (hash only), and ``KeyAccess`` on the request path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from homes import open_home
from shipyard.errors import Conflict, InvalidRequest, NotFound, Unauthenticated
from shipyard.governance.keys import (
    hash_secret,
    make_grants,
    new_key,
    parse_duration,
    parse_token,
)
from shipyard.governance.scopes import INFER, KEYS_ADMIN, Grant
from shipyard.registry.sql import RegistryStore
from shipyard.serving.access import KeyAccess


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def identify(access: KeyAccess, header: str | None, source: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return asyncio.run(access.identify(header, source=source))


def test_new_keys_have_the_documented_format() -> None:
    key_id, secret, token = new_key()
    assert token == f"shp_{key_id}_{secret}"
    assert len(key_id) == 12 and all(c in "0123456789abcdef" for c in key_id)
    assert len(secret) == 43  # token_urlsafe(32): 256 bits
    assert parse_token(token).id == key_id
    assert parse_token(token).secret == secret
    assert secret not in repr(parse_token(token))
    assert len({new_key()[0] for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t[:20],
        lambda t: "shq" + t[3:],
        lambda t: t.replace("shp_", "shp-", 1),
        lambda t: t.upper(),
        lambda t: t + "x",
        lambda t: t[:4] + t[5:],
        lambda t: "",
        lambda t: "shp__",
        lambda t: t[:-1] + "\n",
    ],
    ids=["truncated-1", "truncated-20", "wrong-prefix", "wrong-separator", "uppercase", "too-long",
         "short-id", "empty", "only-separators", "newline"],
)  # fmt: skip
def test_malformed_tokens_are_refused_without_echoing_them(mangle) -> None:  # type: ignore[no-untyped-def]
    _, secret, token = new_key()
    bad = mangle(token)
    with pytest.raises(Unauthenticated) as info:
        parse_token(bad)
    assert secret[:8] not in str(info.value)
    assert (bad not in str(info.value)) or bad == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)), ("never", None)],
    ids=["days", "hours", "minutes", "never"],
)
def test_durations(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "30", "d", "-1d", "1w", "1.5h", "30 d", "9999999d"], ids=str)
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_duration(text)


@pytest.mark.parametrize(
    ("roles", "models"),
    [(["root"], ["*"]), ([], ["*"]), (["admin"], []), (["admin"], [""]), (["admin"], ["a\x1bb"]), (["admin"], ["a b"])],
    ids=["unknown-role", "no-role", "no-pattern", "empty-pattern", "control-char", "space"],
)
def test_bad_grants(roles: list[str], models: list[str]) -> None:
    with pytest.raises(InvalidRequest):
        make_grants(roles, models)


def test_store_keeps_only_the_hash_and_audits(store: RegistryStore) -> None:
    record, token = store.keys.create("ci", make_grants(["predictor"], ["iris"]), created_by="user:alice")
    secret = parse_token(token).secret
    assert record.secret_hash == hash_secret(secret)
    assert store.keys.get(record.id) == record
    assert [r.id for r in store.keys.list()] == [record.id]
    assert not store.keys.has_admin_key()
    (entry,) = store.audit.list()
    assert (entry.action, entry.resource, entry.actor) == ("key.create", f"key:{record.id}", "user:alice")
    assert secret not in str(entry.to_dict())

    revoked = store.keys.revoke(record.id, actor="user:bob", reason="leaked")
    assert revoked.state(datetime.now(UTC)) == "revoked"
    assert store.audit.list()[-1].action == "key.revoke"
    assert store.audit.list()[-1].reason == "leaked"
    with pytest.raises(Conflict):
        store.keys.revoke(record.id, actor="user:bob")
    with pytest.raises(NotFound):
        store.keys.revoke("0" * 12, actor="user:bob")


def test_has_admin_key_ignores_revoked_expired_and_narrow_keys(store: RegistryStore) -> None:
    narrow, _ = store.keys.create("a-only", make_grants(["admin"], ["a*"]), created_by="user:x")
    past = datetime.now(UTC) - timedelta(seconds=1)
    store.keys.create("old", make_grants(["admin"]), created_by="user:x", expires_at=past)
    assert not store.keys.has_admin_key()
    admin, _ = store.keys.create("admin", make_grants(["admin"]), created_by="user:x")
    assert store.keys.has_admin_key()
    store.keys.revoke(admin.id, actor="user:x")
    assert not store.keys.has_admin_key()
    assert narrow.grants[0].covers(INFER, "abc") and not narrow.grants[0].covers(KEYS_ADMIN)


def test_no_plaintext_key_anywhere_under_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    services = open_home(home)
    try:
        _, token = services.keys.create("ci", make_grants(["admin"]), created_by="user:test")
        services.store.audit.verify()
    finally:
        services.close()
    secret = parse_token(token).secret.encode()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert secret not in data, path
        assert secret[:16] not in data, path


def test_key_access_identifies_and_refuses(store: RegistryStore) -> None:
    record, token = store.keys.create("ci", make_grants(["predictor"], ["iris"]), created_by="user:x")
    access = KeyAccess(store.keys, cache_seconds=0)
    caller = identify(access, f"Bearer {token}", source="10.0.0.7")
    assert caller.subject == f"key:{record.id}" and caller.authenticated
    assert (caller.key_id, caller.key_name, caller.source) == (record.id, "ci", "10.0.0.7")
    assert caller.grants == (Grant("predictor", ("iris",)),)
    assert caller.allows(INFER, "iris") and not caller.allows(INFER, "other")
    assert identify(access, f"bearer   {token}  ").authenticated

    anonymous = identify(access, None, source="10.0.0.8")
    assert not anonymous.authenticated and anonymous.grants == () and anonymous.source == "10.0.0.8"

    key_id, secret = parse_token(token).id, parse_token(token).secret
    wrong_secret = f"shp_{key_id}_{'A' * 43}"
    cases = {
        f"Basic {token}": "Bearer",
        token: "Bearer",
        "Bearer": "Bearer",
        "Bearer ": "Bearer",
        f"Bearer {token[:-3]}": "malformed",
        f"Bearer shp_{'0' * 12}_{secret}": "unknown key",
        f"Bearer {wrong_secret}": "does not match",
    }
    for header, expected in cases.items():
        with pytest.raises(Unauthenticated) as info:
            identify(access, header)
        assert expected in str(info.value), header
        assert secret not in str(info.value)


def test_revoked_and_expired_keys_are_refused(store: RegistryStore) -> None:
    _, expired = store.keys.create(
        "old", make_grants(["admin"]), created_by="user:x", expires_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    record, token = store.keys.create("ci", make_grants(["admin"]), created_by="user:x")
    store.keys.revoke(record.id, actor="user:x")
    access = KeyAccess(store.keys, cache_seconds=0)
    with pytest.raises(Unauthenticated, match="expired"):
        identify(access, f"Bearer {expired}")
    with pytest.raises(Unauthenticated, match="revoked"):
        identify(access, f"Bearer {token}")


def test_revocation_takes_effect_within_the_cache_time(store: RegistryStore) -> None:
    record, token = store.keys.create("ci", make_grants(["admin"]), created_by="user:x")
    clock = Clock()
    access = KeyAccess(store.keys, cache_seconds=2.0, clock=clock)

    async def scenario() -> None:
        assert (await access.identify(f"Bearer {token}", source="a")).authenticated
        store.keys.revoke(record.id, actor="user:x")
        clock.now += 1.0  # still cached: the server trusts what it read for cache_seconds
        assert (await access.identify(f"Bearer {token}", source="a")).authenticated
        clock.now += 1.5
        with pytest.raises(Unauthenticated, match="revoked"):
            await access.identify(f"Bearer {token}", source="a")

    asyncio.run(scenario())


def test_cache_avoids_the_database_and_stays_bounded(store: RegistryStore) -> None:
    _, token = store.keys.create("ci", make_grants(["admin"]), created_by="user:x")

    class CountingReader:
        def __init__(self) -> None:
            self.reads = 0
            self.touches: list[str] = []

        def get(self, key_id: str):  # type: ignore[no-untyped-def]
            self.reads += 1
            return store.keys.get(key_id)

        def touch_last_used(self, key_id: str, when: datetime) -> None:
            self.touches.append(key_id)
            store.keys.touch_last_used(key_id, when)

    reader = CountingReader()
    clock = Clock()
    access = KeyAccess(reader, cache_seconds=5.0, max_cached=3, clock=clock)

    async def scenario() -> None:
        await asyncio.gather(*(access.identify(f"Bearer {token}", source="a") for _ in range(50)))
        assert reader.reads == 1
        for i in range(10):  # unknown ids fill the cache, which stays bounded
            with pytest.raises(Unauthenticated):
                await access.identify(f"Bearer shp_{i:012x}_{'B' * 43}", source="a")
        assert reader.reads == 11
        # The cache holds 3 entries: the real key was evicted by the unknown ones, so it is read again.
        await access.identify(f"Bearer {token}", source="a")
        assert reader.reads == 12
        await asyncio.sleep(0.2)

    asyncio.run(scenario())
    key_id = parse_token(token).id
    assert reader.touches == [key_id]  # once a minute at most
    last_used = store.keys.get(key_id).last_used_at  # type: ignore[union-attr]
    assert last_used is not None and datetime.now(UTC) - last_used < timedelta(minutes=1)
