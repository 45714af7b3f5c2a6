"""Helpers for the governance tests: a small model, homes with one model per risk tier,
what a high-tier version needs beyond approvals, and deployment specs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer
from shipyard.bootstrap import Services

REGISTRANT = "alice"
TIERED = {"low": None, "mid": "limited", "top": "high"}
"""Model name → tier given at registration (None: the policy's default, minimal)."""
CARD = {
    "intended_use": "Sorting test flowers",
    "out_of_scope_use": "Anything about people",
    "limitations": "Three features only",
    "risks": "Misfiled flowers",
    "training_data": "Generated in the test",
    "evaluation": "Accuracy on a held-out split",
}
REVIEW = {"review": {"rules": [{"kind": "sample", "rate": 0.01}]}}


def frame(rows: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows), "email": rng.normal(size=rows)})
    y = (x["a"] > 0).astype(np.int64).to_numpy()
    return x, y


def fitted() -> LogisticRegression:
    x, y = frame()
    return LogisticRegression().fit(x, y)


def register(services: Services, name: str, *, tier: str | None = None, by: str = REGISTRANT, **options: Any) -> int:
    x, _ = frame()
    version = services.registry.register(
        name, fitted(), sample=x.iloc[:3], compile=False, created_by=by, actor=f"user:{by}", tier=tier, **options
    )
    return version.version


def build_home(home: Path, registry_url: str | None = None) -> None:
    """``low`` (no tier: minimal), ``mid`` (limited) and ``top`` (high), two versions each,
    registered by alice."""
    overrides = {"registry_url": registry_url} if registry_url else {}
    services = open_home(home, **overrides)
    try:
        for name, tier in TIERED.items():
            register(services, name, tier=tier)
            register(services, name)
    finally:
        services.close()


def complete_high(services: Services, name: str, version: int) -> None:
    """Everything a high-tier version needs but its approvals: card fields, a fairness
    report, a review rule."""
    store = services.store
    store.cards.edit(name, version, CARD, actor="user:carol")
    store.cards.record_fairness(name, version, {"demographic_parity_difference": 0.02}, actor="user:carol")
    store.controls.set(name, REVIEW, actor="user:admin")


def complete_high_in(home: Path, name: str, version: int) -> None:
    services = open_home(home)
    try:
        complete_high(services, name, version)
    finally:
        services.close()


def skops_file(tmp: Path) -> Path:
    import skops.io

    path = tmp / "model.skops"
    skops.io.dump(fitted(), path)
    return path


def spec(name: str, primary: str, canary: str | None = None, *, weight: int = 10, shadow: str | None = None) -> str:
    """A deployment spec's YAML: a primary, optionally a canary at ``weight`` and a shadow."""
    lines = [f"deployment: {name}", "variants:", "  stable:", f"    model: {primary}", "    role: primary"]
    if canary is not None:
        lines += ["  cand:", f"    model: {canary}", "    role: canary", f"    weight: {weight}"]
    if shadow is not None:
        lines += ["  shade:", f"    model: {shadow}", "    role: shadow"]
    return "\n".join(lines) + "\n"


@dataclass
class Live:
    server: LiveServer
    home: Path
    keys: dict[str, str]

    def http(self, who: str = "admin") -> httpx.Client:
        token = self.server.api_key if who == "admin" else self.keys[who]
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def token(self, who: str) -> str:
        token = self.server.api_key if who == "admin" else self.keys[who]
        assert token is not None
        return token
