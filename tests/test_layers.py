"""The layering rule: imports point down only, and frameworks stay at the edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import shipyard

SRC = Path(shipyard.__file__).parent

# Lower number = lower layer. A module may import its own layer and those below it.
RANKS = {
    "errors": 0,
    "config": 0,
    "context": 0,
    "logs": 0,
    # Scopes and roles: plain data that the Caller record (context) carries.
    "governance.scopes": 0,
    # Keys, the audit chain, signing: pure logic (stdlib + cryptography), stored by the registry.
    "governance": 1,
    "fs": 1,
    "schema": 2,
    # Plain records and name checks of the registry: data only, used by lower layers.
    "registry.types": 2,
    "registry.refs": 2,
    # Mergeable rollout telemetry and answer comparison: numpy-only data, stored by the registry.
    "rollout.window": 2,
    "rollout.compare": 2,
    # Drift summaries and tests: numpy/scipy/pandas only, summarised by the registry at registration.
    "monitoring.drift": 3,
    "lineage": 3,
    "protocol": 3,
    "flavors": 4,
    "compile": 4,
    "registry": 5,
    # Deployment specs, traffic splits and their checks against the registry; the serving
    # layer asks it which variant answers.
    "rollout": 6,
    # Batch scoring: the data plane's validation and the serving runtime over files, beside
    # serving (it needs neither the server's manager nor its batcher).
    "batch": 6,
    "serving": 7,
    "monitoring": 8,
    "bootstrap": 9,
    "http": 10,
    # OIP V2 over gRPC: a front end beside http, sharing its app state.
    "grpcapi": 10,
    # The Ray engine: the same app (http) in a Ray Serve ingress, model calls in replicas.
    "ray": 10,
    "sdk": 11,
    "cli": 12,
    "__main__": 13,
    "__init__": 13,
}

FRAMEWORKS = {
    "starlette": {"http"},
    "uvicorn": {"http"},
    "grpc": {"grpcapi"},
    "tritonclient": {"grpcapi"},
    "click": {"cli"},
    "rich": {"cli"},
    "prometheus_client": {"monitoring", "http"},
    "sqlalchemy": {"registry"},
    "alembic": {"registry"},
    "boto3": {"registry"},
    "botocore": {"registry"},
    "ray": {"ray"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _rank(module: str) -> int:
    for depth in (2, 1):
        key = ".".join(module.split(".")[:depth])
        if key in RANKS:
            return RANKS[key]
    raise AssertionError(f"module shipyard.{module} has no layer in RANKS: add it")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_point_down(path: Path) -> None:
    if "migrations" in path.parts:
        return
    module = _module_name(path)
    own = _rank(module)
    top = module.split(".")[0]
    for imported in _imports(path):
        if imported == "shipyard":
            continue
        if imported.startswith("shipyard."):
            target = imported.removeprefix("shipyard.")
            assert _rank(target) <= own or target.split(".")[0] == top, (
                f"shipyard.{module} (layer {own}) imports shipyard.{target} (layer {_rank(target)})"
            )
        root = imported.split(".")[0]
        if root in FRAMEWORKS:
            assert top in FRAMEWORKS[root], f"shipyard.{module} imports {root}, allowed only in {FRAMEWORKS[root]}"


def test_every_module_has_a_layer() -> None:
    for path in MODULES:
        if "migrations" not in path.parts:
            _rank(_module_name(path))
