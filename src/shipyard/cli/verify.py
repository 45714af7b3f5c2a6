"""``shipyard verify``: re-hash every stored artifact and report the ones that changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import count_progress, human_size, print_json, short_sha, show, table
from shipyard.errors import IntegrityError

if TYPE_CHECKING:
    from shipyard.bootstrap import Services
    from shipyard.registry.gc import Leftovers
    from shipyard.registry.provenance import SignatureStatus


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(as_json: bool) -> None:
    """Check every model version's artifact against its recorded sha256."""
    from rich.text import Text

    with cli_state().services() as services:
        leftovers = _find_leftovers(services)
        signatures = _check_signatures(services)
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
                "leftovers": leftovers.to_dict(),
                "signatures": [vars(s) for s in signatures],
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
    if not as_json:
        _show_leftovers(leftovers)
        _show_signatures(signatures)
    if failed:
        raise IntegrityError(
            f"{len(failed)} of {len(results)} artifacts failed verification",
            hint="re-register the failed versions from their source files, or restore the blobs from a backup",
        )
    _refuse_bad_signatures(signatures)
    if not as_json and results:
        click.echo(f"All {len(results)} artifacts match their sha256.")


# -- crash leftovers (registry/gc.py) ------------------------------------------------------------


def _find_leftovers(services: Services) -> Leftovers:
    """Orphan blobs and stale temporaries, whatever their age; what a live registration holds is left out."""
    from shipyard.fs.scratch import scratch_root
    from shipyard.registry.gc import find_leftovers

    found = find_leftovers(services.store, services.artifacts, scratch_root(services.settings.home), grace_seconds=0)
    found.items = [item for item in found.items if item.kept != "lease"]
    return found


def _show_leftovers(found: Leftovers) -> None:
    from shipyard.cli.gc import LEFTOVER_COLUMNS, leftover_rows

    if not found.items:
        click.echo("No orphan blobs or stale temporary files.")
        return
    show(table("Crash leftovers", LEFTOVER_COLUMNS, leftover_rows(found.items, dry_run=False)))
    size = human_size(sum(item.size for item in found.items))
    click.echo(f"{len(found.items)} leftover(s), {size}: `shipyard gc` removes those older than its --grace (1h).")


# -- signatures (registry/provenance.py) ----------------------------------------------------------


def _check_signatures(services: Services) -> list[SignatureStatus]:
    """The signature status of every version's artifacts (signed, unsigned, mismatch)."""
    found = []
    for model, number, _ in services.store.iter_artifacts():
        found.extend(services.registry.signature_statuses(services.store.get_version(model, number)))
    return found


def _show_signatures(statuses: list[SignatureStatus]) -> None:
    from rich.text import Text

    if not statuses:
        return
    styles = {"signed": "green", "unsigned": "yellow", "mismatch": "bold red"}
    rows = [
        [s.model, str(s.version), s.kind, Text(s.status, style=styles[s.status]), s.key_id or "", s.reason or ""]
        for s in statuses
    ]
    show(table("signatures", ["model", "version", "artifact", "signature", "key", "detail"], rows))


def _refuse_bad_signatures(statuses: list[SignatureStatus]) -> None:
    bad = [s for s in statuses if s.status == "mismatch"]
    if bad:
        first = bad[0]
        raise IntegrityError(
            f"{len(bad)} signatures do not verify, first {first.model}/{first.version} ({first.kind}): {first.reason}",
            hint="the version row or its signature was changed after registration; re-register from the source",
        )
