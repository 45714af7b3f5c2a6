"""``shipyard serve``: check every reference against the registry, then start the server.

The check comes first so that a typo is a one-line error, not a server that starts, fails
to load and exits with a log full of JSON. A bare NAME is pinned to its latest version at
start: a note says which, and how to follow an alias instead.

``--help`` shows each option's built-in default, read from ``Settings`` (the environment
and the config file override it; the flag overrides both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from shipyard.cli.context import cli_state
from shipyard.config import Settings

if TYPE_CHECKING:
    from shipyard.bootstrap import Services
    from shipyard.registry.refs import ModelRef


def _help(text: str, setting: str) -> str:
    """``text`` and the built-in default of ``setting``, as click shows defaults (the options
    default to None so that the environment and the config file still apply)."""
    value = Settings.model_fields[setting].default
    shown = ("on" if value else "off") if isinstance(value, bool) else "none" if value in (None, "") else value
    return f"{text}  [default: {shown}]"


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option(
    "--host",
    help=_help("Address to listen on.", "host"),
)
@click.option(
    "--port",
    type=int,
    help=_help("Port to listen on (0: any free port).", "port"),
)
@click.option(
    "--grpc-port",
    type=int,
    help=_help("Port of the OIP V2 gRPC service (0 turns it off).", "grpc_port"),
)
@click.option("--workers", type=int, help="Worker processes sharing the port.  [default: one per CPU core]")
@click.option(
    "--drain-seconds",
    type=float,
    help=_help("After SIGTERM, answer not-ready this long before closing.", "drain_seconds"),
)
@click.option(
    "--graceful-timeout",
    type=float,
    help=_help("After draining, let in-flight requests finish this long (seconds).", "graceful_timeout_seconds"),
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "native", "compiled"]),
    help=_help(
        "auto: the compiled (ONNX) form where it was verified, else native; native/compiled force one.", "runtime"
    ),
)
@click.option(
    "--batching/--no-batching",
    default=None,
    help=_help("Gather concurrent requests into one model call.", "batching"),
)
@click.option(
    "--max-batch-rows",
    type=int,
    help=_help("Most rows in one batched model call.", "max_batch_rows"),
)
@click.option(
    "--max-batch-wait-ms",
    type=float,
    help=_help("Longest a request waits for batch-mates under load.", "max_batch_wait_ms"),
)
@click.option(
    "--open-inference",
    metavar="PATTERNS",
    help=_help(
        "Let anonymous callers infer with (and read readiness and metadata of) the models matching "
        "these name patterns ('*' or 'iris,fraud-*').",
        "open_inference",
    ),
)
@click.option(
    "--insecure-open",
    is_flag=True,
    default=None,
    help=_help("Allow a non-loopback --host while some route is anonymous (warned at every start).", "insecure_open"),
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this machine's server; ray: a Ray Serve application (docs/scale-out.md).",
)
@click.option(
    "--address",
    default="local",
    show_default=True,
    help="With --engine ray: local (a single-node Ray started here, on loopback), auto (the cluster "
    "on this machine), HOST:PORT (a head) or ray://HOST:PORT (Ray Client).",
)
def serve(
    *,
    refs: tuple[str, ...],
    engine: str,
    address: str,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    workers: int | None,
    drain_seconds: float | None,
    graceful_timeout: float | None,
    runtime: str | None,
    batching: bool | None,
    max_batch_rows: int | None,
    max_batch_wait_ms: float | None,
    open_inference: str | None,
    insecure_open: bool | None,
) -> None:
    """Serve the models REF... (NAME, NAME/VERSION or NAME@ALIAS) over HTTP and gRPC (--grpc-port).

    NAME@ALIAS follows the alias: when it moves, the server loads the new version without a
    restart. NAME/VERSION, and a bare NAME (its latest version at start), stay put.

    A NAME that is a live deployment (`shipyard deploy list`) serves the deployment: every
    variant is loaded and each request is answered by the variant its split chooses.

    Defaults below are built in; SHIPYARD_* variables and the config file override them."""
    from shipyard.errors import InvalidRequest
    from shipyard.http.app import check_bind
    from shipyard.http.server import serve as run_server
    from shipyard.registry.refs import parse_ref
    from shipyard.registry.service import check_loadable
    from shipyard.serving.ratelimit import parse_rate_limits

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "grpc_port": grpc_port,
        "workers": workers,
        "drain_seconds": drain_seconds,
        "graceful_timeout_seconds": graceful_timeout,
        "runtime": runtime,
        "batching": batching,
        "max_batch_rows": max_batch_rows,
        "max_batch_wait_ms": max_batch_wait_ms,
        "open_inference": open_inference,
        "insecure_open": insecure_open,
    }
    if engine == "local" and address != "local":
        raise InvalidRequest("--address applies to --engine ray", hint="add --engine ray, or drop --address")
    parsed = [parse_ref(ref) for ref in refs]
    names = [ref.name for ref in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRequest(f"model {duplicates[0]!r} is named more than once", hint="serve one reference per model")
    state = cli_state()
    with state.services(**overrides) as services:
        check_bind(services.settings, warn=False)
        # Settings every worker would refuse: one clean line here, not a traceback per worker.
        parse_rate_limits(services.settings.rate_limits)
        checked = []
        for ref in parsed:
            checked.extend(_served_refs(services, ref))
        for ref in checked:
            version = services.registry.resolve(ref)
            check_loadable(version)  # a retired version: one line naming its successor
            if ref.is_latest:
                click.echo(_pinned(ref.name, version.version, services.store.aliases(ref.name)), err=True)
            if services.settings.runtime == "compiled" and (version.compiled is None or not version.compiled.agreed):
                raise InvalidRequest(
                    f"{version.ref} has no verified compiled form"
                    + (f": {version.compile_error}" if version.compile_error else ""),
                    hint=f"run 'shipyard models compile {version.ref}', or serve with --runtime auto",
                )
        settings = services.settings
    if engine == "ray":
        from shipyard.cli.serve_ray import serve_on_ray

        serve_on_ray(settings, list(refs), overrides, address)
        return
    run_server(settings, parsed)


def _pinned(name: str, version: int, aliases: dict[str, int]) -> str:
    """The note for a bare NAME: which version it serves, and how to follow an alias instead."""
    note = f"note: serving {name}/{version}, the latest version of {name}, until restart"
    if aliases:
        alias = "production" if "production" in aliases else sorted(aliases)[0]
        named = ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items()))
        return f"{note}; serve {name}@{alias} to follow an alias instead ({named})"
    return (
        f"{note}; to follow an alias instead, set one (shipyard models alias {name} production {version}) "
        f"and serve {name}@production"
    )


def _served_refs(services: Services, ref: ModelRef) -> list[ModelRef]:
    """The model references ``ref`` stands for: the variants of the live deployment a bare
    name names, else ``ref`` itself."""
    from shipyard.errors import NotFound
    from shipyard.rollout.spec import DeploymentSpec

    if not ref.is_latest:
        return [ref]
    try:
        deployment, revision = services.store.deployments.current(ref.name)
    except NotFound:
        return [ref]
    if deployment.state == "deleted":
        return [ref]
    spec = DeploymentSpec.from_dict(revision.spec, source=f"deployment {ref.name!r}")
    return [variant.ref for variant in spec.variants.values()]
