"""Crash leftovers: orphan blobs and stale temporaries, found (``shipyard verify``) and
removed (``shipyard gc``).

- An *orphan blob* is a content-addressed blob no ``model_versions`` or
  ``compiled_versions`` row references: a registration killed after its blob was written
  and before its row was committed leaves one.
- A *stale temporary* is a ``.part`` file of the artifact store (an interrupted put, or an
  incomplete S3 multipart upload) or a scratch directory under ``$SHIPYARD_HOME/tmp`` whose
  owner is gone (``fs/scratch.py``).

Never removed, whatever the options:

- a blob that a row references (read after the store and the leases were listed, so a
  registration that commits while gc runs is seen);
- a blob named by a live registration lease (registrations write the digests they store,
  or find already stored, into a locked lease file *before* the blob becomes visible);
- anything younger than the grace period (default one hour), which also covers
  registrations on other hosts sharing an S3 store, whose leases this host cannot see.

Deletion re-checks the blob's time (``delete_blob(unless_modified_after=...)``): a put of
the same bytes refreshes it (local store), so a registration that relies on an old orphan
at the last moment keeps it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.fs.scratch import ScratchEntry, live_lease_digests, remove, scan
from shipyard.registry.artifacts.base import ArtifactStore, StoredBlob, StoredTemp
from shipyard.registry.sql.store import RegistryStore

logger = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class Leftover:
    kind: str
    """``orphan_blob``, ``store_temp`` or ``scratch``."""
    name: str
    """The blob digest, the store's temp name, or the scratch path."""
    size: int
    modified: float
    removed: bool = False
    kept: str | None = None
    """Why it stays, when it does (``grace``, ``lease``, ``in use``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "size": self.size,
            "modified": self.modified,
            "age_seconds": round(max(0.0, time.time() - self.modified), 1),
            "removed": self.removed,
            "kept": self.kept,
        }


@dataclass
class Leftovers:
    items: list[Leftover] = field(default_factory=list)
    referenced: int = 0
    blobs: int = 0

    @property
    def actionable(self) -> list[Leftover]:
        return [item for item in self.items if item.kept is None]

    @property
    def removed(self) -> list[Leftover]:
        return [item for item in self.items if item.removed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "blobs": self.blobs,
            "referenced": self.referenced,
            "leftovers": len(self.actionable),
            "removed": len(self.removed),
            "bytes": sum(item.size for item in self.actionable),
            "items": [item.to_dict() for item in self.items],
        }


def referenced_digests(store: RegistryStore) -> set[str]:
    """Every blob digest a version or a compiled form references."""
    digests: set[str] = set()
    for model in store.list_models():
        for version in store.list_versions(model.name):
            digests.add(version.artifact.sha256)
            if version.compiled is not None:
                digests.add(version.compiled.artifact.sha256)
            if version.lineage.drift_reference is not None:
                digests.add(version.lineage.drift_reference.sha256)
    return digests


def find_leftovers(
    store: RegistryStore, artifacts: ArtifactStore, scratch: Path, *, grace_seconds: float = DEFAULT_GRACE_SECONDS
) -> Leftovers:
    """What a crash left behind; each item says whether gc may remove it (``kept`` is None)."""
    cutoff = time.time() - grace_seconds
    # Order matters: blobs first, then leases, then rows. A blob listed here whose
    # registration is still running is in a lease by now, or its row is committed.
    blobs: list[StoredBlob] = list(artifacts.iter_blobs())
    temps: list[StoredTemp] = list(artifacts.iter_temp())
    entries: list[ScratchEntry] = scan(scratch)
    leased = live_lease_digests(scratch)
    referenced = referenced_digests(store)
    out = Leftovers(blobs=len(blobs), referenced=len(referenced))
    for blob in blobs:
        if blob.sha256 in referenced:
            continue
        kept = "lease" if blob.sha256 in leased else "grace" if blob.modified > cutoff else None
        out.items.append(Leftover("orphan_blob", blob.sha256, blob.size, blob.modified, kept=kept))
    for temp in temps:
        out.items.append(
            Leftover(
                "store_temp", temp.name, temp.size, temp.modified, kept="grace" if temp.modified > cutoff else None
            )
        )
    for entry in entries:
        if entry.alive:
            continue  # in use: not a leftover
        out.items.append(Leftover("scratch", str(entry.path), entry.size, entry.modified))
    return out


def collect(
    store: RegistryStore,
    artifacts: ArtifactStore,
    scratch: Path,
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
) -> Leftovers:
    """Find leftovers and, unless ``dry_run``, remove those not kept."""
    found = find_leftovers(store, artifacts, scratch, grace_seconds=grace_seconds)
    if dry_run:
        return found
    # A registration that started since the listing may rely on one of these blobs.
    leased = live_lease_digests(scratch)
    result = Leftovers(referenced=found.referenced, blobs=found.blobs)
    for item in found.items:
        if item.kept is not None:
            result.items.append(item)
            continue
        removed = True
        kept = None
        if item.kind == "orphan_blob":
            if item.name in leased:
                removed, kept = False, "lease"
            else:
                removed = artifacts.delete_blob(item.name, unless_modified_after=item.modified)
                kept = None if removed else "in use"
        elif item.kind == "store_temp":
            artifacts.delete_temp(item.name)
        else:
            remove(Path(item.name))
        result.items.append(Leftover(item.kind, item.name, item.size, item.modified, removed=removed, kept=kept))
    if result.removed:
        logger.info("gc removed %d leftover(s)", len(result.removed))
    return result
