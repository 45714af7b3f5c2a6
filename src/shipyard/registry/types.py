"""Registry records: what a model and each of its immutable versions carry.

These are plain frozen dataclasses handed out by the registry store; nothing outside
``shipyard.registry.sql`` sees a database row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.schema.signature import Signature


@dataclass(frozen=True)
class ArtifactRef:
    """A blob in the content-addressed artifact store."""

    sha256: str
    size: int
    filename: str = "model"
    """The original file name (for downloads and format hints); never used as a path."""

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "filename": self.filename}


@dataclass(frozen=True)
class DataFingerprint:
    """Identity of a training data set: a digest of a canonical encoding, rows, schema."""

    sha256: str
    rows: int
    columns: tuple[tuple[str, str], ...]
    """(name, dtype) per column, in order; the target, if given, is last and named."""

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "rows": self.rows, "columns": [list(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataFingerprint:
        return cls(
            sha256=str(data["sha256"]),
            rows=int(data["rows"]),
            columns=tuple((str(n), str(t)) for n, t in data["columns"]),
        )


@dataclass(frozen=True)
class Lineage:
    """What a reviewer needs later to know where a version came from."""

    training_data: DataFingerprint | None = None
    profile: Mapping[str, Any] | None = None
    """Reference profile of the training data (``shipyard.lineage.profile``), JSON-able."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    code_version: str | None = None
    """The git commit of the registering code, ``+dirty`` when the tree had changes."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Python and library versions the model was saved with."""
    drift_reference: ArtifactRef | None = None
    """The training data's drift summary (``shipyard.monitoring.drift``), a blob in the artifact store."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "training_data": self.training_data.to_dict() if self.training_data else None,
            "profile": dict(self.profile) if self.profile is not None else None,
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "code_version": self.code_version,
            "environment": dict(self.environment),
        }
        if self.drift_reference is not None:  # absent from versions registered before it existed
            out["drift_reference"] = self.drift_reference.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        td = data.get("training_data")
        return cls(
            training_data=DataFingerprint.from_dict(td) if td else None,
            profile=data.get("profile"),
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            params=dict(data.get("params") or {}),
            code_version=data.get("code_version"),
            environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
            drift_reference=_artifact_ref(data.get("drift_reference")),
        )


@dataclass(frozen=True)
class CompiledArtifact:
    """A version's compiled (ONNX) form and the agreement check it was judged by."""

    artifact: ArtifactRef
    runtime: str = "onnxruntime"
    report: Mapping[str, Any] = field(default_factory=dict)
    """Rows checked and where they came from, labels identical, max abs diff per output,
    tolerance, precision, converter versions, one-row timings; ``reason`` when refused."""

    @property
    def agreed(self) -> bool:
        return bool(self.report.get("agreed"))

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact.to_dict(), "runtime": self.runtime, "report": dict(self.report)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompiledArtifact:
        art = data["artifact"]
        return cls(
            artifact=ArtifactRef(str(art["sha256"]), int(art["size"]), str(art.get("filename", "model"))),
            runtime=str(data.get("runtime", "onnxruntime")),
            report=dict(data.get("report") or {}),
        )


@dataclass(frozen=True)
class VersionDraft:
    """Everything needed to create a version; the store assigns the number."""

    flavor: str
    artifact: ArtifactRef
    signature: Signature
    lineage: Lineage = field(default_factory=Lineage)
    description: str = ""
    created_by: str = "unknown"
    parent_version: int | None = None
    trusted_types: tuple[str, ...] = ()
    unsafe_format: bool = False
    trust_code: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    input_example: Mapping[str, Any] | None = None
    """A few sample rows as ``{"columns": [...], "data": [[...]]}``, used to warm up."""
    flavor_metadata: Mapping[str, Any] = field(default_factory=dict)
    """What the flavor needs besides the file to load it (``SavedModel.metadata``)."""
    compiled: CompiledArtifact | None = None
    serving_runtime: str = "native"
    compile_error: str | None = None


ACTIVE = "active"
DEPRECATED = "deprecated"
RETIRED = "retired"
LIFECYCLE_STATES = (ACTIVE, DEPRECATED, RETIRED)


@dataclass(frozen=True)
class VersionLifecycle:
    """Where a version is in its life (``docs/lifecycle.md``): ``active``, ``deprecated``
    (still answers, with ``Deprecation``/``Sunset`` headers) or ``retired`` (answers 410,
    naming ``successor``); a retired version's artifacts may be archived."""

    model: str
    version: int
    state: str = ACTIVE
    deprecated_at: datetime | None = None
    sunset_at: datetime | None = None
    """When the owner announced the version stops answering (informative: nothing acts on it)."""
    successor: str | None = None
    """A model reference (``fraud/5``, ``fraud@production``) to use instead."""
    retired_at: datetime | None = None
    archived_at: datetime | None = None
    reason: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lifecycle": self.state,
            "deprecated_at": _iso(self.deprecated_at),
            "sunset_at": _iso(self.sunset_at),
            "successor": self.successor,
            "retired_at": _iso(self.retired_at),
            "archived_at": _iso(self.archived_at),
            "lifecycle_reason": self.reason,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class ModelVersion:
    """An immutable, numbered version of a model."""

    model: str
    version: int
    flavor: str
    artifact: ArtifactRef
    signature: Signature
    lineage: Lineage
    description: str
    created_by: str
    created_at: datetime
    parent_version: int | None
    trusted_types: tuple[str, ...]
    unsafe_format: bool
    trust_code: bool
    tags: Mapping[str, str]
    input_example: Mapping[str, Any] | None
    flavor_metadata: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    compiled: CompiledArtifact | None = None
    """The compiled form, when one was made (also when it did not agree: see its report)."""
    serving_runtime: str = "native"
    """Which form serves by default: ``native`` or ``compiled``."""
    compile_error: str | None = None
    """Why the native runtime serves, when compilation failed or did not agree."""
    lifecycle: str = ACTIVE
    """``active``, ``deprecated`` or ``retired`` (the details: ``lifecycle_state``)."""
    deprecated_at: datetime | None = None
    sunset_at: datetime | None = None
    successor: str | None = None
    retired_at: datetime | None = None
    archived_at: datetime | None = None
    lifecycle_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"

    @property
    def lifecycle_state(self) -> VersionLifecycle:
        return VersionLifecycle(
            model=self.model,
            version=self.version,
            state=self.lifecycle,
            deprecated_at=self.deprecated_at,
            sunset_at=self.sunset_at,
            successor=self.successor,
            retired_at=self.retired_at,
            archived_at=self.archived_at,
            reason=self.lifecycle_reason,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "flavor": self.flavor,
            "artifact": self.artifact.to_dict(),
            "signature": self.signature.to_dict(),
            "lineage": self.lineage.to_dict(),
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "parent_version": self.parent_version,
            "trusted_types": list(self.trusted_types),
            "unsafe_format": self.unsafe_format,
            "trust_code": self.trust_code,
            "tags": dict(self.tags),
            "input_example": dict(self.input_example) if self.input_example is not None else None,
            "flavor_metadata": dict(self.flavor_metadata),
            "aliases": list(self.aliases),
            "compiled": self.compiled.to_dict() if self.compiled is not None else None,
            "serving_runtime": self.serving_runtime,
            "compile_error": self.compile_error,
            **self.lifecycle_state.to_dict(),
        }


@dataclass(frozen=True)
class Model:
    """A named model: the container of versions, aliases and tags."""

    name: str
    description: str
    owner: str
    created_at: datetime
    updated_at: datetime
    tags: Mapping[str, str]
    aliases: Mapping[str, int]
    latest_version: int | None
    risk_tier: str = "minimal"
    """The effective risk tier: the one set on the model, else the policy's default."""
    tier_set: bool = False
    """Whether the tier was set on the model (False: the policy's default applies)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "risk_tier": self.risk_tier,
            "tier_set": self.tier_set,
            "description": self.description,
            "owner": self.owner,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "latest_version": self.latest_version,
        }


def _artifact_ref(data: Mapping[str, Any] | None) -> ArtifactRef | None:
    if not data:
        return None
    return ArtifactRef(sha256=str(data["sha256"]), size=int(data["size"]), filename=str(data.get("filename", "model")))
