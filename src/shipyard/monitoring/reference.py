"""A registered version's drift reference: its training data's summary, loaded from the artifact store.

Registration (``RegistryService.register`` with ``training_data``) summarises the training data once
(``shipyard.monitoring.drift``) and stores the summary as a content-addressed blob named in the
version's lineage (``lineage.drift_reference``); reading it back re-hashes the bytes, so a changed
or missing blob is an error, never a silently different reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import NotFound
from shipyard.monitoring.drift.summaries import DatasetSummary
from shipyard.registry.service import RegistryService
from shipyard.registry.types import ModelVersion

if TYPE_CHECKING:
    from shipyard.monitoring.drift.report import DriftReport


def load_drift_reference(registry: RegistryService, model: str, version: int) -> DatasetSummary:
    """The drift reference summary of ``model`` version ``version`` (digest-checked)."""
    return drift_reference_of(registry, registry.store.get_version(model, version))


def drift_reference_of(registry: RegistryService, version: ModelVersion) -> DatasetSummary:
    ref = version.lineage.drift_reference
    if ref is None:
        raise NotFound(
            f"{version.model} version {version.version} has no drift reference",
            hint="register the version with its training data (training_data=...) to compare traffic against it",
        )
    path = registry.artifacts.fetch(ref)  # ArtifactNotFound / IntegrityError when the blob is gone or changed
    return DatasetSummary.from_bytes(path.read_bytes())


def drift_against_reference(
    registry: RegistryService, model: str, version: int, current: Any, **options: Any
) -> DriftReport:
    """``drift_report`` of ``current`` (a frame or a summary) against the version's registered reference."""
    from shipyard.monitoring.drift.engine import drift_report

    return drift_report(load_drift_reference(registry, model, version), current, **options)
