"""Connecting to Ray, the shared-state rule, and deploying the application.

Addresses (``--address``): ``local`` starts a single-node Ray in this process on loopback
(dashboard off, usage reporting off) that lives as long as the command; ``auto`` joins the
cluster already running on this machine (``ray start --head``, or ``RAY_ADDRESS``);
``HOST:PORT`` joins the cluster whose head is there (a local Ray's is printed when it starts);
``ray://HOST:PORT`` is a remote cluster through Ray Client.

State must be shared where replicas run on several machines: a registry on SQLite or
artifacts on local files exist on one machine only. They are accepted for a single-node Ray
(``local``, or ``auto`` when the cluster has one node), with a note saying so; a multi-node
cluster or a Ray Client address needs PostgreSQL and S3 (``ConfigError`` otherwise).
"""

from __future__ import annotations

import os
import re
from typing import Any

import ray
from ray import serve

from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.ray.app import build
from shipyard.ray.options import APP_NAME

LOCAL = "local"
AUTO = "auto"


_GCS_ADDRESS = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")


def check_address(address: str) -> str:
    """``address`` when it is one Ray takes: local, auto, ray://HOST:PORT, or a head's HOST:PORT."""
    if address in (LOCAL, AUTO) or address.startswith("ray://") or _GCS_ADDRESS.fullmatch(address):
        return address
    raise ConfigError(f"unknown Ray address {address!r}", hint="use local, auto, HOST:PORT or ray://HOST:PORT")


def gcs_address() -> str:
    """The connected cluster's head address (what ``--address`` takes to join it)."""
    return str(ray.get_runtime_context().gcs_address)


def local_state(settings: Settings) -> list[str]:
    """What of ``settings``' state lives on this machine only: the SQLite registry, local artifacts."""
    found = []
    if settings.resolved_registry_url.startswith("sqlite"):
        found.append("a SQLite registry")
    if settings.resolved_artifacts_url.startswith("file:"):
        found.append("local artifacts")
    return found


def single_node_note(settings: Settings) -> str | None:
    """The one line ``--engine ray`` says when state is local (None when it is shared)."""
    found = local_state(settings)
    if not found:
        return None
    return (
        f"note: {' and '.join(found)}: accepted for a single-node Ray only "
        "(a multi-node cluster needs registry_url on PostgreSQL and artifacts_url on S3)"
    )


def refuse_multi_node(settings: Settings, *, address: str, nodes: int) -> None:
    """``ConfigError`` when state is local and the cluster is not this one machine."""
    found = local_state(settings)
    if not found or (not address.startswith("ray://") and nodes <= 1):
        return
    where = f"Ray Client address {address}" if address.startswith("ray://") else f"a cluster of {nodes} nodes"
    raise ConfigError(
        f"--engine ray on {where} needs shared state, but this home has {' and '.join(found)}",
        hint="set registry_url to PostgreSQL and artifacts_url to s3://..., or use --address local",
    )


def connect(address: str, *, num_cpus: int | None = None) -> int:
    """Connect this process to Ray at ``address``; the number of alive nodes."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address == LOCAL:
        ray.init(
            address="local",
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
        )
    else:
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"cannot reach a Ray cluster at {address}: {first[:200]}",
                hint="start one (ray start --head), or pass its HOST:PORT or ray:// address",
            ) from exc
    return sum(1 for node in ray.nodes() if node.get("Alive"))


def deploy(refs: list[str], settings: Settings, overrides: dict[str, Any], **extra: Any) -> None:
    """Start Ray Serve's HTTP proxy on ``settings.host:port`` and deploy (or update) the
    application; returns once every deployment is healthy."""
    serve.start(http_options={"host": settings.host, "port": settings.port})
    args: dict[str, Any] = {"refs": refs, "settings": overrides, **extra}
    serve.run(build(args), name=APP_NAME, route_prefix="/")


def disconnect(*, shutdown_serve: bool) -> None:
    if shutdown_serve:
        serve.shutdown()
    ray.shutdown()
