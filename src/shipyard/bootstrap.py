"""Composition root: settings → stores → services. The only place that wires them up."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import Settings
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.factory import open_artifact_store
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import RegistryStore


@dataclass
class Services:
    settings: Settings
    store: RegistryStore
    artifacts: ArtifactStore
    registry: RegistryService

    def close(self) -> None:
        self.store.close()


def open_services(settings: Settings | None = None) -> Services:
    """Open the registry and artifact store named by ``settings`` (read from the environment
    and shipyard.toml when not given), creating ``$SHIPYARD_HOME`` on first use."""
    settings = settings or Settings.load()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = RegistryStore(settings.resolved_registry_url)
    try:
        artifacts = open_artifact_store(settings)
    except BaseException:
        store.close()
        raise
    return Services(settings=settings, store=store, artifacts=artifacts, registry=RegistryService(store, artifacts))
