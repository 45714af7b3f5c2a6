"""``shipyard``: the command line, and the one place its errors become exit codes.

A ``ShipyardError`` prints ``error: <message>`` (and ``hint: <hint>``) on stderr and exits
with the error's ``exit_code``; a ``RemoteError`` exits with the code of the error the
server named. Anything unexpected prints one line and exits 1, with the traceback only
under ``-v``. Click's own usage errors keep click's exit 2.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from shipyard import __version__
from shipyard.cli.alerts import alerts
from shipyard.cli.approvals import approvals
from shipyard.cli.audit import audit
from shipyard.cli.card import card
from shipyard.cli.context import CliState
from shipyard.cli.controls import controls
from shipyard.cli.demo import demo
from shipyard.cli.deploy import deploy
from shipyard.cli.feedback import feedback
from shipyard.cli.gc import gc
from shipyard.cli.init import init
from shipyard.cli.keys import keys
from shipyard.cli.logs import logs
from shipyard.cli.models import models
from shipyard.cli.monitor import monitor
from shipyard.cli.output import error_line
from shipyard.cli.policy import policy
from shipyard.cli.predict import predict
from shipyard.cli.privacy import erase, retention
from shipyard.cli.review import review
from shipyard.cli.score import score_command
from shipyard.cli.serve import serve
from shipyard.cli.status import status
from shipyard.cli.verify import verify
from shipyard.errors import ERRORS_BY_CODE, RemoteError, ShipyardError

# Exits that are not errors, or are click's to report.
_PASS_THROUGH = (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt)


def exit_code_for(error: ShipyardError) -> int:
    if isinstance(error, RemoteError):
        known = ERRORS_BY_CODE.get(error.remote_code)
        return known.exit_code if known is not None else error.exit_code
    return error.exit_code


def report(error: BaseException, *, verbose: bool) -> int:
    """Print ``error`` the CLI way and return the exit code it means."""
    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, ShipyardError):
        error_line(error.message, error.hint)
        return exit_code_for(error)
    error_line(f"unexpected {type(error).__name__}: {error}", None if verbose else "run with -v for details")
    return 1


class ShipyardGroup(click.Group):
    """The root group: maps every error a command raises, once, for all of them."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except Exception as exc:
            state = ctx.find_object(CliState)
            ctx.exit(report(exc, verbose=bool(state and state.verbose)))


@click.group(cls=ShipyardGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Shipyard's home directory (sets SHIPYARD_HOME; default ~/.shipyard).",
)
@click.option("--registry-url", help="SQLAlchemy URL of the registry database.")
@click.option("--artifacts-url", help="Artifact store: file:///path or s3://bucket/prefix.")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks.")
@click.version_option(__version__, prog_name="shipyard")
@click.pass_context
def cli(
    ctx: click.Context, home: Path | None, registry_url: str | None, artifacts_url: str | None, verbose: bool
) -> None:
    """Shipyard: register model versions, inspect their lineage, and serve them."""
    state = ctx.ensure_object(CliState)
    state.home = home.expanduser() if home is not None else None
    state.registry_url = registry_url
    state.artifacts_url = artifacts_url
    state.verbose = verbose
    state.apply_home()
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


for _command in (models, serve, predict, verify, demo, gc, init, keys, audit, deploy, logs, feedback, alerts, monitor):
    cli.add_command(_command)
for _command in (controls, retention, erase):
    cli.add_command(_command)
cli.add_command(review)
cli.add_command(approvals)
cli.add_command(policy)
cli.add_command(card)
cli.add_command(score_command)
cli.add_command(status)


def main(argv: list[str] | None = None) -> None:
    """The console script ``shipyard`` and ``python -m shipyard``."""
    cli.main(args=argv, prog_name="shipyard")
