"""``shipyard verify``: re-hash every stored artifact and report the ones that changed."""

from __future__ import annotations

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import count_progress, human_size, print_json, short_sha, show, table
from shipyard.errors import IntegrityError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(as_json: bool) -> None:
    """Check every model version's artifact against its recorded sha256."""
    from rich.text import Text

    with cli_state().services() as services:
        total = sum(1 for _ in services.store.iter_artifacts())
        with count_progress("verifying artifacts", total) as advance:
            results = []
            for result in services.registry.verify():
                results.append(result)
                if result.kind == "model":
                    advance()
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(
            {
                "checked": len(results),
                "failed": len(failed),
                "results": [
                    {
                        "model": r.model,
                        "version": r.version,
                        "kind": r.kind,
                        "artifact": r.artifact.to_dict(),
                        "ok": r.ok,
                        "error": r.error,
                    }
                    for r in results
                ],
            }
        )
    elif results:
        rows = [
            [
                r.model,
                str(r.version),
                r.kind,
                short_sha(r.artifact.sha256),
                human_size(r.artifact.size),
                Text("ok", style="green") if r.ok else Text("FAILED", style="bold red"),
                r.error or "",
            ]
            for r in results
        ]
        show(table(None, ["model", "version", "artifact", "sha256", "size", "status", "detail"], rows))
    else:
        click.echo("No artifacts to verify.")
    if failed:
        raise IntegrityError(
            f"{len(failed)} of {len(results)} artifacts failed verification",
            hint="re-register the failed versions from their source files, or restore the blobs from a backup",
        )
    if not as_json and results:
        click.echo(f"All {len(results)} artifacts match their sha256.")
