"""The governance calls of ``sdk.Client`` (docs/governance.md): the policy, risk tiers,
approval requests and votes, a version's standing against the policy, governance flags,
the emergency rollback of an alias, and applying or rolling back a deployment (which the
server gates the same way as the CLI).

A refusal by the policy arrives as ``RemoteError`` with code ``policy_refused`` (409) and
a message saying what is missing; approving one's own registration as
``separation_of_duties`` (403).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.registry.refs import check_alias, check_model_name, parse_version


class GovernanceCalls:
    """Mixed into ``Client``; every call goes through its ``_json``."""

    if TYPE_CHECKING:  # provided by ``Client``; declared here for the type checker only

        def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]: ...

    # -- the policy and tiers -----------------------------------------------------------------
    def policy(self) -> dict[str, Any]:
        """The policy in force: ``revision`` (0: the default), ``text`` (YAML), ``policy``."""
        return self._json("GET", "/api/policy")

    def set_policy(self, text: str, *, reason: str | None = None) -> dict[str, Any]:
        """Replace the policy with ``text`` (YAML); needs ``governance.admin``."""
        return self._json("PUT", "/api/policy", json=_drop_none({"text": text, "reason": reason}))

    def policy_history(self, *, limit: int = 100) -> list[dict[str, Any]]:
        revisions: list[dict[str, Any]] = self._json("GET", "/api/policy/history", params={"limit": limit})["revisions"]
        return revisions

    def set_tier(self, name: str, tier: str, *, reason: str | None = None) -> dict[str, Any]:
        """Set model ``name``'s risk tier (minimal, limited, high); needs ``governance.admin``."""
        body = _drop_none({"tier": tier, "reason": reason})
        return self._json("PUT", f"/api/models/{check_model_name(name)}/tier", json=body)

    # -- approvals ----------------------------------------------------------------------------
    def request_approval(
        self, name: str, version: int, comment: str, *, expires_in_days: int | None = None
    ) -> dict[str, Any]:
        """Ask for ``name/version``'s approval; returns the request (``id``, ``status``...)."""
        body = _drop_none({"comment": comment, "expires_in_days": expires_in_days})
        return self._json("POST", _approvals_path(name, version), json=body)

    def approval_status(
        self, name: str, version: int, *, alias: str | None = None, deployment: str | None = None
    ) -> dict[str, Any]:
        """Where ``name/version`` stands for ``alias`` (default production) or ``deployment``:
        ``tier``, ``required``, ``approvals``, ``missing`` and ``allowed``."""
        params = _drop_none({"alias": alias, "deployment": deployment})
        return self._json("GET", _approvals_path(name, version), params=params)

    def approvals(
        self, *, model: str | None = None, version: int | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        params = _drop_none({"model": model, "version": version, "status": status, "limit": limit})
        found: list[dict[str, Any]] = self._json("GET", "/api/approvals", params=params)["approvals"]
        return found

    def approval(self, request_id: int) -> dict[str, Any]:
        return self._json("GET", f"/api/approvals/{_id(request_id)}")

    def approve(self, request_id: int, *, comment: str = "") -> dict[str, Any]:
        """Approve request ``request_id`` (never one's own registration)."""
        return self._json("POST", f"/api/approvals/{_id(request_id)}/approve", json={"comment": comment})

    def reject(self, request_id: int, *, comment: str = "") -> dict[str, Any]:
        return self._json("POST", f"/api/approvals/{_id(request_id)}/reject", json={"comment": comment})

    # -- flags and rollbacks ------------------------------------------------------------------
    def flags(self, *, include_cleared: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        params = {"all": "true" if include_cleared else "false", "limit": limit}
        found: list[dict[str, Any]] = self._json("GET", "/api/governance/flags", params=params)["flags"]
        return found

    def clear_flag(self, flag_id: int, note: str) -> dict[str, Any]:
        return self._json("POST", f"/api/governance/flags/{_id(flag_id)}/clear", json={"note": note})

    def rollback_alias(
        self, name: str, alias: str, *, to_version: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Emergency rollback of ``name@alias`` (never gated; audited and flagged for review)."""
        path = f"/api/models/{check_model_name(name)}/aliases/{check_alias(alias)}/rollback"
        body = _drop_none({"to_version": parse_version(to_version) if to_version else None, "reason": reason})
        return self._json("POST", path, json=body)

    def apply_deployment(self, name: str, spec: str, *, reason: str | None = None) -> dict[str, Any]:
        """Apply ``spec`` (YAML text) as deployment ``name``'s next revision (gated like the CLI)."""
        path = f"/api/deployments/{check_model_name(name)}"
        return self._json("PUT", path, json=_drop_none({"spec": spec, "reason": reason}))

    def rollback_deployment(
        self, name: str, *, to_revision: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """An earlier revision's spec as the next one (an emergency rollback: never gated)."""
        body = _drop_none({"to_revision": to_revision, "reason": reason})
        return self._json("POST", f"/api/deployments/{check_model_name(name)}/rollback", json=body)


def _approvals_path(name: str, version: int) -> str:
    return f"/api/models/{check_model_name(name)}/versions/{parse_version(version)}/approvals"


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"an id is a positive whole number, got {value!r}")
    return value


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
