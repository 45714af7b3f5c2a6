"""``shipyard status --engine ray``: replicas per model, their health and their queue."""

from __future__ import annotations

import click

from shipyard.cli.output import print_json, show, table


@click.command("status")
@click.option("--engine", type=click.Choice(["ray"]), required=True, help="The engine to ask (ray).")
@click.option(
    "--address",
    default="auto",
    show_default=True,
    help="The Ray cluster: auto (the one on this machine, or RAY_ADDRESS), HOST:PORT (the head; "
    "`shipyard serve --engine ray` prints it) or ray://HOST:PORT.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(*, engine: str, address: str, as_json: bool) -> None:
    """Show the Shipyard application on a Ray cluster: per deployment (the ingress, one per
    model) its health, its replicas (running of all) and their queue (requests in flight)."""
    from shipyard.errors import NotFound
    from shipyard.ray import cluster
    from shipyard.ray.status import app_status

    if address == cluster.LOCAL:
        raise click.BadParameter(
            "a local Ray lives inside its `shipyard serve`: use auto or ray://", param_hint="--address"
        )
    cluster.connect(cluster.check_address(address))
    try:
        found = app_status()
    finally:
        cluster.disconnect(shutdown_serve=False)
    if found is None:
        raise NotFound("no Shipyard application on this Ray cluster", hint="shipyard serve REF... --engine ray")
    if as_json:
        print_json(found.as_dict())
        return
    rows = [
        [
            d.deployment,
            d.model or "(ingress)",
            d.status,
            f"{d.running}/{len(d.replicas)}",
            d.queue,
            " ".join(str(r.pid) for r in d.replicas if r.pid is not None),
            d.message,
        ]
        for d in found.deployments
    ]
    show(
        table(
            f"application {found.name}: {found.status}",
            ["deployment", "model", "health", "replicas", "queue", "pids", "message"],
            rows,
        )
    )
