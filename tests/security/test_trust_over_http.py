"""Trust is the server's decision: an upload asking for trust (pickle, Python code, extra
skops types) needs the trust.admin scope AND the http_trust_uploads setting; server-owned
fields cannot be set by the caller at all."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import httpx
import pytest
from security_support import Keys, bearer, build_home
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer

X = [[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.0, 0.0], [3.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 2.0]]


def pickled() -> bytes:
    return pickle.dumps(LogisticRegression().fit(X, [0, 1, 1, 0]))


def blobs(home: Path) -> set[str]:
    return {p.name for p in (home / "artifacts").rglob("*") if p.is_file()}


def version_count(home: Path, name: str) -> int:
    svc = open_home(home)
    try:
        return len(svc.store.list_versions(name)) if name in {m.name for m in svc.store.list_models()} else 0
    finally:
        svc.close()


def upload(server: LiveServer, token: str, metadata: dict[str, object], name: str = "pickled") -> httpx.Response:
    return httpx.post(
        server.url + f"/api/models/{name}/versions",
        files={"artifact": ("model.pkl", pickled())},
        data={"metadata": json.dumps(metadata)},
        headers=bearer(token),
        timeout=60,
    )


def wait_for_entry(server: LiveServer, action: str, timeout: float = 5.0) -> dict[str, object] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = httpx.get(server.url + "/api/audit", params={"limit": "1000"}, headers=server.auth_headers).json()
        found = [e for e in entries["entries"] if e["action"] == action]
        if found:
            return found[-1]  # type: ignore[no-any-return]
        time.sleep(0.1)
    return None


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    build_home(home)
    return home


TRUST_ASKS = [{"trust_pickle": True}, {"trust_code": True}, {"trusted_types": ["numpy.memmap"]}]


def test_trust_needs_the_admin_scope_and_the_setting(home: Path) -> None:
    keys = Keys(home)
    publisher = keys.make("publisher")
    narrow_admin = keys.make("admin", ("pickled",))
    admin = keys.make("admin")
    with LiveServer(home, ["a1"]) as server:
        before = blobs(home)
        for ask in TRUST_ASKS:
            for token in (publisher, narrow_admin):
                refused = upload(server, token, ask)
                assert refused.status_code == 403, refused.text
                assert "trust.admin" in refused.json()["error"]
                assert "http_trust_uploads" in refused.json()["error"]
            # An admin key, but the server does not take trust over HTTP.
            refused = upload(server, admin, ask)
            assert refused.status_code == 403, refused.text
            assert "http_trust_uploads" in refused.json()["error"]
            assert "trust.admin" not in refused.json()["error"]
        assert blobs(home) == before
        assert version_count(home, "pickled") == 0
        # The refusals are in the audit trail (written in the background: wait a moment).
        assert wait_for_entry(server, "trust.denied")
        # Asking for no trust is no trust decision: the pickle is refused for what it is.
        plain = upload(server, publisher, {"trust_pickle": False})
        assert plain.status_code == 422, plain.text
        assert blobs(home) == before


def test_trust_with_both_is_accepted_and_audited(home: Path) -> None:
    keys = Keys(home)
    publisher = keys.make("publisher")
    admin = keys.make("admin")
    with LiveServer(home, ["a1"], settings={"http_trust_uploads": "true"}) as server:
        refused = upload(server, publisher, {"trust_pickle": True})
        assert refused.status_code == 403
        assert "trust.admin" in refused.json()["error"] and "http_trust_uploads" not in refused.json()["error"]
        accepted = upload(server, admin, {"trust_pickle": True, "description": "trusted by an admin"})
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["unsafe_format"] is True
        entries = httpx.get(server.url + "/api/audit", params={"limit": "1000"}, headers=server.auth_headers).json()
    admin_id = admin.split("_")[1]
    grants = [e for e in entries["entries"] if e["action"] == "trust.grant"]
    assert len(grants) == 1, entries
    assert grants[0]["actor"] == f"key:{admin_id}" and grants[0]["resource"] == "pickled/1"
    assert grants[0]["source"] == "127.0.0.1"
    assert grants[0]["details"]["trust_pickle"] is True


SERVER_OWNED = ["created_by", "created_at", "version", "sha256", "unsafe_format", "owner", "signature", "artifact"]


def test_server_owned_fields_are_refused(home: Path) -> None:
    with LiveServer(home, ["a1"]) as server:
        before = blobs(home)
        for field in SERVER_OWNED:
            response = httpx.post(
                server.url + "/api/models/a1/versions",
                files={"artifact": ("model.pkl", pickled())},
                data={"metadata": json.dumps({field: "forged"})},
                headers=server.auth_headers,
            )
            assert response.status_code == 400, response.text
            assert field in response.json()["error"]
        assert blobs(home) == before


def test_alias_moves_record_who(home: Path) -> None:
    keys = Keys(home)
    deployer = keys.make("deployer", ("a*",))
    with LiveServer(home, ["a1"]) as server:
        moved = httpx.put(server.url + "/api/models/a1/aliases/prod", json={"version": 2}, headers=bearer(deployer))
        assert moved.status_code == 200, moved.text
        gone = httpx.delete(server.url + "/api/models/a1/aliases/prod", headers=bearer(deployer))
        assert gone.status_code == 204
        entries = httpx.get(server.url + "/api/audit", headers=server.auth_headers).json()["entries"]
    who = f"key:{deployer.split('_')[1]}"
    actions = {(e["action"], e["actor"], e["source"]) for e in entries}
    assert ("alias.set", who, "127.0.0.1") in actions
    assert ("alias.delete", who, "127.0.0.1") in actions
