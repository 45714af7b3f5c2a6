"""A registry with two models, ``a1`` and ``b1``, keys of every kind for it, and helpers
to build a request for any route of the route table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.governance.keys import make_grants
from shipyard.governance.scopes import ROLES, Grant
from shipyard.http.route_spec import RouteSpec

N_FEATURES = 4
ROW = [0.1, 0.2, 0.3, 0.4]


def build_home(home: Path) -> None:
    """``a1`` (versions 1 and 2, alias ``prod`` → 1) and ``b1`` (version 1, alias ``prod`` → 1)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, N_FEATURES))
    y = (X[:, 0] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        for name in ("a1", "b1"):
            svc.registry.register(name, LogisticRegression().fit(X, y), sample=X[:3], compile=False)
            svc.store.set_alias(name, "prod", 1)
        svc.registry.register("a1", LogisticRegression(C=0.1).fit(X, y), sample=X[:3], compile=False)
    finally:
        svc.close()


@dataclass
class Keys:
    home: Path

    def make(
        self,
        role: str,
        models: tuple[str, ...] = ("*",),
        *,
        expires_at: datetime | None = None,
        grants: tuple[Grant, ...] | None = None,
    ) -> str:
        svc = open_home(self.home)
        try:
            _, token = svc.keys.create(
                f"t-{role}-{len(svc.keys.list())}",
                grants if grants is not None else make_grants([role], models),
                expires_at=expires_at,
                created_by="user:test",
            )
        finally:
            svc.close()
        return token

    def revoked(self) -> str:
        token = self.make("admin")
        key_id = token.split("_")[1]
        svc = open_home(self.home)
        try:
            svc.keys.revoke(key_id, actor="user:test")
        finally:
            svc.close()
        return token

    def expired(self) -> str:
        return self.make("admin", expires_at=datetime.now(UTC) - timedelta(minutes=1))

    def no_scopes(self) -> str:
        """A key whose only grant names a role with no scopes at all."""
        return self.make("none", grants=(Grant("no-such-role"),))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def role_with(scope: str) -> str:
    """The smallest role that has ``scope``."""
    return min((r for r, scopes in ROLES.items() if scope in scopes), key=lambda r: len(ROLES[r]))


def path_for(spec: RouteSpec, model: str = "a1") -> str:
    values = {
        "name": model,
        "version": "1",
        "alias": "prod",
        "id": "0123456789ab",
        "revision": "1",
        "request_id": "r-1",
        "approval": "1",
        "flag": "1",
        "target": model,
    }
    path = spec.path
    for param in spec.params:
        path = path.replace(f"{{{param}}}", values[param])
    return path


def body_for(spec: RouteSpec) -> dict[str, object]:
    """A plausible body (its content does not matter to the edge, only its media type)."""
    if spec.body == "inference":
        if spec.path.startswith("/v2"):
            return {"json": {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}}
        if spec.path.startswith("/v1"):
            return {"json": {"instances": [ROW]}}
        return {"json": {"inputs": [ROW]}}
    if spec.body == "json":
        if "aliases" in spec.path:
            return {"json": {"version": 1}}
        if "deployments" in spec.path:
            return {"json": {"spec": "deployment: a1\nvariants: {}\n"}}
        return {"json": {"name": "made-over-http", "role": "viewer"}}
    if spec.body == "upload":
        return {"files": {"artifact": ("model.bin", b"not a model")}}
    return {}
