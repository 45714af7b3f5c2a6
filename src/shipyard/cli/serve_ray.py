"""``shipyard serve --engine ray``: deploy the references as a Ray Serve application.

With ``--address local`` (the default) the command starts a single-node Ray on loopback,
serves until SIGINT/SIGTERM, then shuts Ray down. With ``auto`` or ``ray://HOST:PORT`` it
deploys (or updates) the application on that cluster and exits; the cluster keeps serving.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import click

from shipyard.config import Settings

LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch between a real cluster (the node's reachable IP) and one machine on 127.0.0.1."""


def serve_on_ray(settings: Settings, refs: list[str], overrides: dict[str, Any], address: str) -> None:
    if address == "local":
        # Read when ray is imported: a single-node Ray on loopback only (Ray otherwise binds the
        # machine's reachable address even when told 127.0.0.1). Its processes inherit it.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    from shipyard.ray import cluster

    address = cluster.check_address(address)
    note = cluster.single_node_note(settings)
    nodes = cluster.connect(address)
    local = address == cluster.LOCAL
    try:
        cluster.refuse_multi_node(settings, address=address, nodes=nodes)
        if note is not None:
            click.echo(note, err=True)
        cluster.deploy(refs, settings, {k: v for k, v in overrides.items() if v is not None})
        click.echo(
            f"ready: http://{settings.host}:{settings.port} (Ray Serve application 'shipyard' on {nodes} node"
            f"{'s' if nodes != 1 else ''}; Ray at {cluster.gcs_address()})",
            err=True,
        )
        if local:
            _wait_for_stop()
        else:
            click.echo("deployed: the cluster keeps serving it (shipyard status --engine ray --address ...)", err=True)
    finally:
        cluster.disconnect(shutdown_serve=local)


def _wait_for_stop() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    while not stop.wait(1.0):
        pass
