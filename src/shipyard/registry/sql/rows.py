"""Translation between registry records and table rows.

Only this module and the store know the column layout. JSON fields are encoded here,
before anything reaches the database, so a value that cannot be stored is the caller's
``InvalidRequest`` and not a driver error halfway through a transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from shipyard.errors import InvalidRequest, StorageError
from shipyard.registry.types import ArtifactRef, CompiledArtifact, Lineage, Model, ModelVersion, VersionDraft
from shipyard.schema.signature import Signature

MAX_TAG_KEY = 255
MAX_SHORT_TEXT = 255
MAX_FLAVOR = 64
SERVING_RUNTIMES = ("native", "compiled")


def check_tag(key: str, value: str) -> None:
    """Raise ``InvalidRequest`` unless ``key`` and ``value`` can be stored as a tag."""
    if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY or "\x00" in key:
        raise InvalidRequest(f"invalid tag key {repr(key)[:80]}", hint=f"1 to {MAX_TAG_KEY} characters, no NUL")
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidRequest(f"tag {key!r}: the value must be a string without NUL characters")


def check_short_text(what: str, value: str, limit: int = MAX_SHORT_TEXT) -> str:
    """Return ``value`` if it is a string that fits a ``limit``-character column."""
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise InvalidRequest(f"{what} must be a string of at most {limit} characters without NUL")
    return value


def check_description(value: str) -> str:
    """Return ``value`` if it can be stored as a description (any length, no NUL)."""
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidRequest("description must be a string without NUL characters")
    return value


def encode_json(what: str, value: Any) -> str:
    """JSON text for ``value``; NaN and infinities are kept (metrics may be NaN)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} cannot be stored as JSON: {exc}") from exc


def decode_json(what: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StorageError(f"the registry holds corrupt JSON in {what}: {exc}") from exc


def version_values(draft: VersionDraft, *, created_at: datetime) -> dict[str, Any]:
    """Column values for a new version row (``model_id`` and ``version`` are added by the store)."""
    check_short_text("flavor", draft.flavor, MAX_FLAVOR)
    check_short_text("created_by", draft.created_by)
    check_short_text("artifact filename", draft.artifact.filename)
    check_description(draft.description)
    for key, value in draft.tags.items():
        check_tag(key, value)
    if not all(isinstance(t, str) for t in draft.trusted_types):
        raise InvalidRequest("trusted_types must be strings")
    return {
        "flavor": draft.flavor,
        "artifact_sha256": draft.artifact.sha256,
        "artifact_size": draft.artifact.size,
        "artifact_filename": draft.artifact.filename,
        "signature_json": encode_json("signature", draft.signature.to_dict()),
        "lineage_json": encode_json("lineage", draft.lineage.to_dict()),
        "description": draft.description,
        "created_by": draft.created_by,
        "created_at": created_at,
        "parent_version": draft.parent_version,
        "trusted_types_json": encode_json("trusted_types", list(draft.trusted_types)),
        "unsafe_format": bool(draft.unsafe_format),
        "trust_code": bool(draft.trust_code),
        "input_example_json": (
            encode_json("input_example", dict(draft.input_example)) if draft.input_example is not None else None
        ),
        "flavor_metadata_json": encode_json("flavor_metadata", dict(draft.flavor_metadata)),
    }


def compiled_values(
    compiled: CompiledArtifact | None, *, serving_runtime: str, compile_error: str | None, updated_at: datetime
) -> dict[str, Any]:
    """Column values of a ``compiled_versions`` row (``version_id`` is added by the store)."""
    if serving_runtime not in SERVING_RUNTIMES:
        raise InvalidRequest(f"serving runtime must be one of {', '.join(SERVING_RUNTIMES)}, got {serving_runtime!r}")
    if serving_runtime == "compiled" and compiled is None:
        raise InvalidRequest("a version without a compiled artifact cannot serve compiled")
    if compile_error is not None:
        check_description(compile_error)
    values: dict[str, Any] = {
        "artifact_sha256": None,
        "artifact_size": None,
        "artifact_filename": None,
        "runtime": None,
        "report_json": None,
        "serving_runtime": serving_runtime,
        "compile_error": compile_error,
        "updated_at": updated_at,
    }
    if compiled is not None:
        check_short_text("compiled artifact filename", compiled.artifact.filename)
        check_short_text("compiled runtime", compiled.runtime, MAX_FLAVOR)
        values.update(
            artifact_sha256=compiled.artifact.sha256,
            artifact_size=compiled.artifact.size,
            artifact_filename=compiled.artifact.filename,
            runtime=compiled.runtime,
            report_json=encode_json("compile report", dict(compiled.report)),
        )
    return values


def compiled_fields(row: RowMapping | None) -> dict[str, Any]:
    """The ``ModelVersion`` fields a ``compiled_versions`` row (or its absence) gives."""
    if row is None:
        return {"compiled": None, "serving_runtime": "native", "compile_error": None}
    compiled = None
    if row["artifact_sha256"] is not None:
        compiled = CompiledArtifact(
            artifact=ArtifactRef(
                sha256=row["artifact_sha256"], size=int(row["artifact_size"]), filename=row["artifact_filename"]
            ),
            runtime=row["runtime"],
            report=decode_json("compile report", row["report_json"]) if row["report_json"] else {},
        )
    return {"compiled": compiled, "serving_runtime": row["serving_runtime"], "compile_error": row["compile_error"]}


def artifact_ref(row: RowMapping) -> ArtifactRef:
    return ArtifactRef(sha256=row["artifact_sha256"], size=int(row["artifact_size"]), filename=row["artifact_filename"])


def version_record(
    row: RowMapping,
    *,
    model: str,
    tags: Mapping[str, str],
    aliases: tuple[str, ...],
    compiled: RowMapping | None = None,
) -> ModelVersion:
    """A ``ModelVersion`` from its row, its tags, the aliases pointing at it and its compiled form."""
    example = row["input_example_json"]
    return ModelVersion(
        model=model,
        version=int(row["version"]),
        flavor=row["flavor"],
        artifact=artifact_ref(row),
        signature=Signature.from_dict(decode_json("signature", row["signature_json"])),
        lineage=Lineage.from_dict(decode_json("lineage", row["lineage_json"])),
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        parent_version=row["parent_version"],
        trusted_types=tuple(decode_json("trusted_types", row["trusted_types_json"])),
        unsafe_format=bool(row["unsafe_format"]),
        trust_code=bool(row["trust_code"]),
        tags=dict(tags),
        input_example=decode_json("input_example", example) if example is not None else None,
        flavor_metadata=decode_json("flavor_metadata", row["flavor_metadata_json"]),
        aliases=tuple(sorted(aliases)),
        **compiled_fields(compiled),
        **lifecycle_fields(row),
    )


def lifecycle_fields(row: RowMapping) -> dict[str, Any]:
    """The ``ModelVersion`` lifecycle fields of a ``model_versions`` row."""
    return {
        "lifecycle": row["lifecycle"],
        "deprecated_at": row["deprecated_at"],
        "sunset_at": row["sunset_at"],
        "successor": row["successor"],
        "retired_at": row["retired_at"],
        "archived_at": row["archived_at"],
        "lifecycle_reason": row["lifecycle_reason"],
    }


def model_record(
    row: RowMapping,
    *,
    tags: Mapping[str, str],
    aliases: Mapping[str, int],
    latest: int | None,
    default_tier: str = "minimal",
) -> Model:
    """A ``Model`` from its row and what hangs off it (``default_tier``: the policy's)."""
    tier = row.get("risk_tier")
    return Model(
        name=row["name"],
        description=row["description"],
        owner=row["owner"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        tags=dict(tags),
        aliases=dict(sorted(aliases.items())),
        latest_version=latest,
        risk_tier=str(tier) if tier else default_tier,
        tier_set=bool(tier),
    )
