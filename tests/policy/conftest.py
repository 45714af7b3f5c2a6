"""A live server over a home with one model per tier (``policy_support.build_home``) and
keys for each role, shared by a test module (the HTTP and the SDK tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_support import Live, build_home

from live_server import LiveServer, create_key

ROLES = ("publisher", "deployer", "approver", "viewer", "reviewer")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("policy-live") / "home"
    build_home(home)
    keys = {role: create_key(home, role, name=f"policy-{role}") for role in ROLES}
    keys["approver2"] = create_key(home, "approver", name="policy-approver-2")
    keys["admin2"] = create_key(home, "admin", name="policy-admin-2")
    server = LiveServer(home, ["low"], settings={"access_log": "false"}).start()
    try:
        yield Live(server, home, keys)
    finally:
        server.stop()
