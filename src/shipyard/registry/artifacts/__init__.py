"""The content-addressed artifact store (local directory or S3) that holds model files."""

from __future__ import annotations

from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.factory import open_artifact_store
from shipyard.registry.artifacts.local import LocalArtifactStore

__all__ = ["ArtifactStore", "LocalArtifactStore", "open_artifact_store"]
