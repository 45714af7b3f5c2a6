"""Composition root: settings → stores → services. The only place that wires them up."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config import Settings
from shipyard.fs.scratch import scratch_root
from shipyard.governance.scopes import parse_patterns
from shipyard.governance.signing import Signer, load_public_keys
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.factory import open_artifact_store
from shipyard.registry.provenance import Provenance
from shipyard.registry.recorder import AuditRecorder
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.keys import KeyStore
from shipyard.registry.sql.store import RegistryStore


@dataclass
class Services:
    settings: Settings
    store: RegistryStore
    artifacts: ArtifactStore
    registry: RegistryService
    keys: KeyStore
    audit: AuditRecorder
    """The server's audit writer (``record``, ``submit``, rate-limited ``denied``)."""
    signer: Signer

    def close(self) -> None:
        self.audit.close()
        self.store.close()


def open_services(settings: Settings | None = None) -> Services:
    """Open the registry and artifact store named by ``settings`` (read from the environment
    and shipyard.toml when not given), creating ``$SHIPYARD_HOME`` on first use."""
    settings = settings or Settings.load()
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    hmac_key = settings.audit_hmac_key.get_secret_value().encode() if settings.audit_hmac_key else None
    store = RegistryStore(settings.resolved_registry_url, audit_hmac_key=hmac_key)
    try:
        artifacts = open_artifact_store(settings)
        signer = Signer.load_or_create(settings.home)
        trusted = load_public_keys(parse_patterns(settings.signing_public_keys))
    except BaseException:
        store.close()
        raise
    provenance = Provenance(signer, trusted=trusted, mode=settings.signing)
    return Services(
        settings=settings,
        store=store,
        artifacts=artifacts,
        registry=RegistryService(store, artifacts, scratch=scratch_root(settings.home), provenance=provenance),
        keys=store.keys,
        audit=AuditRecorder(store.audit),
        signer=signer,
    )
