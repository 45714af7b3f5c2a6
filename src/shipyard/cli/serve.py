"""``shipyard serve``: check every reference against the registry, then start the server.

The check comes first so that a typo is a one-line error, not a server that starts, fails
to load and exits with a log full of JSON.
"""

from __future__ import annotations

from typing import Any

import click

from shipyard.cli.context import cli_state


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080).")
@click.option("--workers", type=int, help="Worker processes sharing the port.")
@click.option("--drain-seconds", type=float, help="After SIGTERM, answer not-ready this long before closing.")
@click.option("--graceful-timeout", type=float, help="After draining, let in-flight requests finish this long.")
def serve(
    *,
    refs: tuple[str, ...],
    host: str | None,
    port: int | None,
    workers: int | None,
    drain_seconds: float | None,
    graceful_timeout: float | None,
) -> None:
    """Serve the models REF... (NAME, NAME/VERSION or NAME@ALIAS) over HTTP."""
    from shipyard.errors import InvalidRequest
    from shipyard.http.server import serve as run_server
    from shipyard.registry.refs import parse_ref

    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "drain_seconds": drain_seconds,
        "graceful_timeout_seconds": graceful_timeout,
    }
    parsed = [parse_ref(ref) for ref in refs]
    names = [ref.name for ref in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidRequest(f"model {duplicates[0]!r} is named more than once", hint="serve one reference per model")
    state = cli_state()
    with state.services(**overrides) as services:
        for ref in parsed:
            services.registry.resolve(ref)
        settings = services.settings
    run_server(settings, parsed)
