"""Artifact signatures in the registry database (table ``artifact_signatures``).

Written inside the transaction that writes the version row (or its compiled form), read
back by name and number when a version is loaded or verified.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.governance.signing import Signature
from shipyard.registry.sql.engine import upsert
from shipyard.registry.sql.tables import artifact_signatures, model_versions, models


def put(
    conn: Connection, version_id: int, *, kind: str, sha256: str, signature: Signature, signed_at: datetime
) -> None:
    """Record (or replace) the signature of the ``kind`` artifact of a version."""
    values = {
        "version_id": version_id,
        "kind": kind,
        "sha256": sha256,
        "key_id": signature.key_id,
        "public_key": signature.public_key,
        "signature": signature.signature,
        "signed_at": signed_at,
    }
    upsert(conn, artifact_signatures, values, ["version_id", "kind"])


def for_version(conn: Connection, name: str, version: int) -> dict[str, tuple[str, Signature]]:
    """``{kind: (sha256, signature)}`` of ``name/version`` (empty when it was never signed)."""
    joined = artifact_signatures.join(model_versions, model_versions.c.id == artifact_signatures.c.version_id).join(
        models, models.c.id == model_versions.c.model_id
    )
    query = (
        sa.select(artifact_signatures)
        .select_from(joined)
        .where(models.c.name == name, model_versions.c.version == version)
    )
    return {
        row["kind"]: (row["sha256"], Signature(row["key_id"], row["public_key"], row["signature"]))
        for row in conn.execute(query).mappings()
    }
