"""Signed artifacts: what a version's signature covers, making it, and checking it on load.

The signed payload is a canonical JSON of the version record as registered (model, number,
flavor, the artifact's sha256/size/filename, the input signature, who registered it and
when, and the trust it loads with) plus the signed artifact's own digest. Changing the
row (say, turning on ``trust_code``) or pointing it at other bytes breaks the signature;
the artifact store re-hashes the bytes on every fetch, so the digest ties the two together.

Status of a version's artifact: ``signed`` (verifies under a trusted key), ``unsigned``
(no signature: registered before signing existed), or ``mismatch``. With
``signing = "strict"`` anything but ``signed`` refuses the load; with ``warn`` it is logged
loudly, written to the audit trail, and the load goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Connection

from shipyard.errors import IntegrityError
from shipyard.governance.chain import AuditEvent, canonical
from shipyard.governance.signing import Signature, Signer, verify
from shipyard.registry.sql import queries
from shipyard.registry.sql import signatures as signatures_sql
from shipyard.registry.types import ArtifactRef, ModelVersion

logger = logging.getLogger(__name__)

MODEL = "model"
COMPILED = "compiled"
STRICT = "strict"


def payload(version: ModelVersion, kind: str) -> bytes:
    """The bytes a signature of ``version``'s ``kind`` artifact is made over."""
    artifact = _artifact(version, kind)
    if artifact is None:
        raise ValueError(f"{version.ref} has no {kind} artifact")
    return canonical(
        {
            "kind": kind,
            "digest": artifact.sha256,
            "model": version.model,
            "version": version.version,
            "flavor": version.flavor,
            "artifact": version.artifact.to_dict(),
            "compiled": version.compiled.artifact.to_dict() if kind == COMPILED and version.compiled else None,
            "signature": version.signature.to_dict(),
            "created_by": version.created_by,
            "created_at": version.created_at.isoformat(timespec="microseconds"),
            "trusted_types": list(version.trusted_types),
            "unsafe_format": version.unsafe_format,
            "trust_code": version.trust_code,
        }
    )


def _artifact(version: ModelVersion, kind: str) -> ArtifactRef | None:
    if kind == MODEL:
        return version.artifact
    return version.compiled.artifact if version.compiled is not None else None


@dataclass(frozen=True)
class SignatureStatus:
    model: str
    version: int
    kind: str
    status: str
    """``signed``, ``unsigned`` or ``mismatch``."""
    key_id: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "signed"


class Provenance:
    """This home's signer and the keys it trusts; signs at registration, checks on load."""

    def __init__(
        self,
        signer: Signer,
        *,
        trusted: Mapping[str, Ed25519PublicKey] | None = None,
        mode: str = "warn",
    ) -> None:
        self.signer = signer
        self.trusted = {signer.key_id: signer.public, **(trusted or {})}
        self.mode = mode

    def signing_hook(
        self, kinds: tuple[str, ...] = (MODEL, COMPILED)
    ) -> Callable[[Connection, int, ModelVersion], None]:
        """A step for the version's write transaction: sign its artifacts and store the signatures."""

        def sign(conn: Connection, version_id: int, version: ModelVersion) -> None:
            now = queries.now()
            for kind in kinds:
                artifact = _artifact(version, kind)
                if artifact is not None:
                    signatures_sql.put(
                        conn, version_id, kind=kind, sha256=artifact.sha256,
                        signature=self.signer.sign(payload(version, kind)), signed_at=now,
                    )  # fmt: skip

        return sign

    def status(self, version: ModelVersion, stored: Mapping[str, tuple[str, Signature]], kind: str) -> SignatureStatus:
        found = stored.get(kind)
        if found is None:
            return SignatureStatus(version.model, version.version, kind, "unsigned", reason="no signature recorded")
        sha256, signature = found
        artifact = _artifact(version, kind)
        if artifact is None or artifact.sha256 != sha256:
            return SignatureStatus(
                version.model, version.version, kind, "mismatch", signature.key_id,
                "the signed digest is not the artifact's digest",
            )  # fmt: skip
        problem = verify(payload(version, kind), signature, self.trusted)
        if problem is not None:
            return SignatureStatus(version.model, version.version, kind, "mismatch", signature.key_id, problem)
        return SignatureStatus(version.model, version.version, kind, "signed", signature.key_id)

    def enforce(self, status: SignatureStatus, *, audit: Callable[[AuditEvent], object] | None = None) -> None:
        """Refuse (strict) or warn and audit (warn) a load whose signature is not good."""
        if status.ok:
            return
        what = f"{status.model}/{status.version} ({status.kind} artifact)"
        if self.mode == STRICT:
            raise IntegrityError(
                f"refusing to load {what}: it is {status.status}: {status.reason}",
                hint="re-register the version from its source, or trust its signer in signing_public_keys; "
                "signing = 'warn' loads it with a warning",
            )
        logger.warning("loading %s although it is %s: %s", what, status.status, status.reason)
        if audit is not None:
            audit(
                AuditEvent(
                    "system",
                    "local",
                    "signature.mismatch",
                    f"{status.model}/{status.version}",
                    "failed",
                    status.reason,
                    {"kind": status.kind, "status": status.status, "key_id": status.key_id},
                )
            )
