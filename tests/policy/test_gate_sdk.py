"""The gates and approvals through the SDK (``shipyard.Client`` against a real server, and
``shipyard.register_model`` in process): for each tier the alias and deployment gates,
separation of duties, emergency rollback, policy and tiers, bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_support import Live, complete_high_in, fitted, frame, skops_file, spec

import shipyard
from shipyard.errors import InvalidRequest, RemoteError


def client(live: Live, who: str = "admin") -> shipyard.Client:
    return shipyard.Client(live.server.url, api_key=live.token(who))


def refused(call: object, code: str, status: int) -> RemoteError:
    assert callable(call)
    with pytest.raises(RemoteError) as caught:
        call()
    assert caught.value.remote_code == code and caught.value.status == status, caught.value
    return caught.value


def test_alias_gate_per_tier(live: Live) -> None:
    with client(live, "deployer") as deployer, client(live, "approver") as approver:
        assert deployer.set_alias("low", "production", 2)["version"] == 2
        error = refused(lambda: deployer.set_alias("mid", "production", 2), "policy_refused", 409)
        assert error.message.endswith("missing: 1 more approval (has 0 of 1)")
        request = deployer.request_approval("mid", 2, "ready")
        assert approver.approve(request["id"], comment="ok")["status"] == "approved"
        refused(lambda: approver.approve(request["id"]), "conflict", 409)
        assert deployer.set_alias("mid", "production", 2)["version"] == 2
        status = deployer.approval_status("top", 1)
        assert status["tier"] == "high" and not status["allowed"] and len(status["missing"]) == 4
        refused(lambda: deployer.set_alias("top", "production", 1), "policy_refused", 409)


def test_high_tier_to_production(live: Live, tmp_path: Path) -> None:
    x, _ = frame()
    with client(live, "publisher") as publisher:
        created = publisher.register("sdk-high", skops_file(tmp_path), sample=x.iloc[:3], tier="high")
    version = int(created["version"])
    complete_high_in(live.home, "sdk-high", version)
    with client(live, "deployer") as deployer, client(live, "approver") as first, client(live, "approver2") as second:
        request = deployer.request_approval("sdk-high", version, "first release", expires_in_days=30)
        first.approve(request["id"])
        assert deployer.approval_status("sdk-high", version)["missing"] == ["1 more approval (has 1 of 2)"]
        assert second.approve(request["id"])["status"] == "approved"
        assert deployer.set_alias("sdk-high", "production", version)["version"] == version
        listed = deployer.approvals(model="sdk-high", status="approved")
        assert [a["id"] for a in listed] == [request["id"]] and len(listed[0]["votes"]) == 2
        assert deployer.approval(request["id"])["status"] == "approved"


def test_separation_of_duties_for_an_admin(live: Live, tmp_path: Path) -> None:
    x, _ = frame()
    with client(live) as admin:
        created = admin.register("sdk-own", skops_file(tmp_path), sample=x.iloc[:3], tier="limited")
        request = admin.request_approval("sdk-own", int(created["version"]), "mine")
        error = refused(lambda: admin.approve(request["id"]), "separation_of_duties", 403)
        assert "may not approve it" in error.message
        refused(lambda: admin.set_alias("sdk-own", "production", 1), "policy_refused", 409)


def test_deployment_gate_per_tier(live: Live) -> None:
    with client(live, "deployer") as deployer, client(live, "approver2") as approver:
        assert (
            deployer.apply_deployment("s-low", spec("s-low", "low/1", "low/2", weight=10))["revision"]["revision"] == 1
        )
        deployer.apply_deployment("s-shadow", spec("s-shadow", "low/1", shadow="top/2"))
        error = refused(
            lambda: deployer.apply_deployment("s-mid", spec("s-mid", "low/1", "mid/1", weight=50)),
            "policy_refused",
            409,
        )
        assert error.message.startswith("variant cand: mid/1 (tier limited)")
        approver.approve(deployer.request_approval("mid", 1, "canary")["id"])
        deployer.apply_deployment("s-mid", spec("s-mid", "low/1", "mid/1", weight=50))
        refused(lambda: deployer.apply_deployment("s-top", spec("s-top", "top/2")), "policy_refused", 409)
        # Rolling back is never gated, and flagged.
        deployer.apply_deployment("s-mid", spec("s-mid", "low/2"))
        moved = deployer.rollback_deployment("s-mid", reason="regression")
        assert moved["revision"]["revision"] == 3
        flags = deployer.flags()
        assert any(f["target"] == "s-mid" and f["details"]["reason"] == "regression" for f in flags)


def test_rollback_policy_and_tiers(live: Live) -> None:
    with client(live, "deployer") as deployer, client(live) as admin:
        deployer.set_alias("low", "blue", 1)
        deployer.set_alias("low", "blue", 2)
        done = deployer.rollback_alias("low", "blue", reason="bad")
        assert done["version"] == 1 and done["emergency"] is True
        refused(lambda: deployer.clear_flag(done["flag"], "ok"), "forbidden", 403)
        assert admin.clear_flag(done["flag"], "reviewed")["open"] is False
        assert done["flag"] not in [f["id"] for f in admin.flags()]
        assert done["flag"] in [f["id"] for f in admin.flags(include_cleared=True)]
        before = admin.policy()["revision"]
        refused(lambda: deployer.set_policy("default_tier: high\n"), "forbidden", 403)
        refused(lambda: admin.set_policy("tiers: {nope: {}}\n"), "invalid_request", 400)
        stored = admin.set_policy("protected_aliases: [production, sdk-gold]\n", reason="sdk")
        assert stored["revision"] == before + 1
        assert admin.policy_history()[0]["revision"] == stored["revision"]
        refused(lambda: deployer.set_alias("top", "sdk-gold", 1), "policy_refused", 409)
        admin.set_policy("protected_aliases: [production]\n")
        assert admin.set_tier("low", "limited", reason="sdk")["risk_tier"] == "limited"
        refused(lambda: deployer.set_tier("low", "minimal"), "forbidden", 403)
        refused(lambda: admin.set_tier("low", "extreme"), "invalid_request", 400)
        admin.set_tier("low", "minimal")


def test_bad_inputs_before_sending(live: Live) -> None:
    with client(live) as admin:
        with pytest.raises(InvalidRequest):
            admin.request_approval("bad name!", 1, "x")
        with pytest.raises(InvalidRequest):
            admin.rollback_alias("low", "9")
        for bad in (0, -1, True):
            with pytest.raises(ValueError, match="positive whole number"):
                admin.approve(bad)
        refused(lambda: admin.request_approval("low", 1, ""), "invalid_request", 400)
        refused(lambda: admin.approvals(status="maybe"), "invalid_request", 400)


def test_register_model_in_process(tmp_path: Path) -> None:
    x, y = frame()
    home = tmp_path / "home"
    version = shipyard.register_model("local", fitted(), training_data=(x, y), home=home, tier="high",
                                      pii={"email": "drop"})  # fmt: skip
    assert version.version == 1
    from homes import open_home

    services = open_home(home)
    try:
        assert services.store.get_model("local").risk_tier == "high"
        assert dict(services.store.controls.get("local").controls.pii) == {"email": "drop"}  # type: ignore[union-attr]
    finally:
        services.close()
    with pytest.raises(InvalidRequest, match="unknown risk tier"):
        shipyard.register_model("local2", fitted(), training_data=(x, y), home=home, tier="urgent")
