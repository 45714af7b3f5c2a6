"""What a server holds for each reference it serves: a slot, and the version loaded in it.

A slot (``Slot``) is a reference given to ``serve`` (or a deployment's variant, or a fallback
model); its ``current`` version (``ServedVersion``) is swapped in one assignment when an alias
moves (``serving/manager``). Plain records: the manager changes them, requests read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.flavors.base import LoadedModel
from shipyard.registry.refs import ModelRef
from shipyard.registry.types import ModelVersion
from shipyard.schema.signature import Signature
from shipyard.serving.batching import Batcher
from shipyard.serving.notices import VersionNotice


@dataclass(frozen=True)
class ServedVersion:
    """A loaded, warmed-up model version, immutable once built."""

    name: str
    record: ModelVersion
    model: LoadedModel
    loaded_at: float
    batcher: Batcher = field(compare=False, repr=False)
    """Queues and runs this version's requests (never shared with another version)."""
    notice: VersionNotice = field(compare=False, repr=False, default_factory=lambda: VersionNotice(""))
    """Its lifecycle as requests see it (deprecation headers, retired): updated in place."""

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def signature(self) -> Signature:
        return self.record.signature


@dataclass
class Slot:
    ref: ModelRef
    current: ServedVersion | None = None
    failures: dict[int, tuple[float, str]] = field(default_factory=dict)
    lag: str | None = None
    """Why the slot does not serve its alias's version (after the last check), else None."""

    @property
    def name(self) -> str:
        return self.ref.name
