"""What every command gets from the global options: settings, and services opened on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipyard.config import Settings

if TYPE_CHECKING:
    from shipyard.bootstrap import Services


@dataclass
class CliState:
    """The global options, as given on the command line."""

    home: Path | None = None
    registry_url: str | None = None
    artifacts_url: str | None = None
    verbose: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    def apply_home(self) -> None:
        # Exported so that processes we start (``serve`` workers, the demo's server) see it.
        if self.home is not None:
            os.environ["SHIPYARD_HOME"] = str(self.home)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "home": self.home,
            "registry_url": self.registry_url,
            "artifacts_url": self.artifacts_url,
            **self.overrides,
            **overrides,
        }
        return Settings.load(overrides=values)

    @contextmanager
    def services(self, **overrides: Any) -> Iterator[Services]:
        from shipyard.bootstrap import open_services

        services = open_services(self.settings(**overrides))
        try:
            yield services
        finally:
            services.close()


def cli_state() -> CliState:
    """The state of the running command (a fresh default one outside the ``shipyard`` group)."""
    ctx = click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    return state
