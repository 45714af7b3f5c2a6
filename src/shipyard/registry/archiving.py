"""Archiving a retired version's artifacts, and restoring them: the store's copies and the
registry's marks, in an order that never leaves a version without its bytes.

Archive: copy every artifact of the version (model and compiled form) into the archive
area, each copy verified → mark ``archived_at`` (audited, in one transaction) → only then
remove the originals that no version outside the archive still references (a blob is
content-addressed and may be shared). A failed copy or mark leaves the originals and the
state as they were. Restore runs the same steps the other way.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.sql.store import RegistryStore
from shipyard.registry.types import ArtifactRef, ModelVersion

logger = logging.getLogger(__name__)


def artifacts_of(version: ModelVersion) -> list[ArtifactRef]:
    """The version's blobs: its registered artifact, then its compiled form if it has one."""
    refs = [version.artifact]
    if version.compiled is not None and version.compiled.artifact.sha256 != version.artifact.sha256:
        refs.append(version.compiled.artifact)
    return refs


class Archiver:
    """Moves retired versions' artifacts to archive storage and back."""

    def __init__(self, store: RegistryStore, artifacts: ArtifactStore) -> None:
        self.store = store
        self.artifacts = artifacts

    def archive(
        self, name: str, version: int, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> ModelVersion:
        """Move the artifacts of retired ``name/version`` to archive storage."""
        record = self.store.lifecycle.check_archivable(name, version)
        started = time.time()
        refs = artifacts_of(record)
        created = []
        try:
            for ref in refs:
                if self.artifacts.archive(ref):
                    created.append(ref.sha256)
            details = _details(refs)
            marked = self.store.lifecycle.mark_archived(
                record.model, record.version, details=details, actor=actor, source=source, reason=reason
            )
        except BaseException:
            self._discard(created, self.artifacts.delete_archived, record, archived=True)
            raise
        shared = self.store.lifecycle.digests_in_use(
            [r.sha256 for r in refs], archived=False, excluding=(record.model, record.version)
        )
        for ref in refs:
            if ref.sha256 in shared:
                logger.info("artifact %s stays in the store: a version that is not archived uses it", ref.sha256)
                continue
            try:
                # A registration that stored the same bytes since we started refreshed the time.
                self.artifacts.delete_blob(ref.sha256, unless_modified_after=started)
            except ShipyardError as exc:
                logger.warning("archived %s, but its original %s stays in the store: %s", marked.ref, ref.sha256, exc)
        logger.info("archived the artifacts of %s", marked.ref)
        return marked

    def archive_retired(
        self, name: str, version: int, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> ModelVersion:
        """``archive`` right after a retirement (``retire --archive``): a failure says that the
        version is retired all the same, and how to try the archive again."""
        try:
            return self.archive(name, version, actor=actor, source=source, reason=reason)
        except ShipyardError as exc:
            exc.message = f"{name}/{version} is retired, but archiving its artifacts failed: {exc.message}"
            exc.args = (exc.message,)
            exc.hint = exc.hint or f"try again with `shipyard models archive {name}/{version}`"
            raise

    def restore(
        self, name: str, version: int, *, actor: str | None = None, source: str = "local", reason: str | None = None
    ) -> ModelVersion:
        """Bring the archived artifacts of ``name/version`` back (digests checked); it stays retired."""
        record = self.store.lifecycle.check_restorable(name, version)
        refs = artifacts_of(record)
        created = []
        try:
            for ref in refs:
                if self.artifacts.restore(ref):
                    created.append(ref.sha256)
            restored = self.store.lifecycle.mark_restored(
                record.model, record.version, details=_details(refs), actor=actor, source=source, reason=reason
            )
        except BaseException:
            self._discard(created, self.artifacts.delete, record, archived=False)
            raise
        shared = self.store.lifecycle.digests_in_use(
            [r.sha256 for r in refs], archived=True, excluding=(record.model, record.version)
        )
        for ref in refs:
            if ref.sha256 in shared:
                continue
            try:
                self.artifacts.delete_archived(ref.sha256)
            except ShipyardError as exc:
                logger.warning("restored %s, but its archived copy %s stays: %s", restored.ref, ref.sha256, exc)
        logger.info("restored the artifacts of %s", restored.ref)
        return restored

    def _discard(self, digests: list[str], delete: Any, record: ModelVersion, *, archived: bool) -> None:
        """Undo the copies this attempt made, unless another version relies on them."""
        if not digests:
            return
        try:
            keep = self.store.lifecycle.digests_in_use(
                digests, archived=archived, excluding=(record.model, record.version)
            )
            for sha256 in digests:
                if sha256 not in keep:
                    delete(sha256)
        except ShipyardError as exc:
            logger.warning("could not remove the copies of a failed attempt on %s: %s", record.ref, exc)


def _details(refs: list[ArtifactRef]) -> dict[str, Any]:
    return {"artifacts": [r.sha256 for r in refs]}
