"""PII marks given at registration (``register --pii email=hash``): checked against the
version's signature and merged into the model's serving controls (``store.controls``,
audited ``controls.set``), where servers and the prediction log read them.

A registrant may add a mark or make one stricter (keep < hash < drop); making an existing
mark looser is an admin's change (``shipyard controls set``): ``Forbidden`` here.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.errors import Forbidden, InvalidRequest
from shipyard.registry.sql.store import RegistryStore
from shipyard.schema.signature import Signature

MARKS = ("keep", "hash", "drop")
"""Weakest first."""
MAX_MARKS = 1000


def check_marks(marks: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(marks, Mapping):
        raise InvalidRequest("pii is a mapping of field name to drop, hash or keep")
    if len(marks) > MAX_MARKS:
        raise InvalidRequest(f"at most {MAX_MARKS} PII marks")
    out: dict[str, str] = {}
    for field, mark in marks.items():
        if not isinstance(field, str) or not 1 <= len(field) <= 256:
            raise InvalidRequest("a PII mark names a field of 1 to 256 characters")
        if mark not in MARKS:
            raise InvalidRequest(f"the PII mark of {field[:60]!r} is drop, hash or keep, not {str(mark)[:20]!r}")
        out[field] = str(mark)
    return out


def check_fields(signature: Signature, marks: Mapping[str, str]) -> None:
    """Every marked field is an input of ``signature``."""
    known = set(signature.input_names)
    unknown = sorted(f for f in marks if f not in known)
    if unknown:
        shown = ", ".join(repr(f[:60]) for f in unknown[:5])
        raise InvalidRequest(
            f"PII marks name fields the signature does not have: {shown}",
            hint=f"the inputs are: {', '.join(sorted(known))[:300]}",
        )


def refuse_loosening(store: RegistryStore, name: str, marks: Mapping[str, str]) -> None:
    stored = store.controls.get(name)
    if stored is None:
        return
    for field, mark in marks.items():
        before = stored.controls.pii.get(field)
        if before is not None and MARKS.index(mark) < MARKS.index(before):
            raise Forbidden(
                f"{field[:60]!r} of {name!r} is marked {before}: a registration may not loosen it to {mark}",
                hint=f"an admin changes PII marks: shipyard controls set {name} -f controls.yaml",
            )


def merge_marks(store: RegistryStore, name: str, marks: Mapping[str, str], *, actor: str | None, source: str) -> None:
    """The model's controls with ``marks`` added (each the stricter of the old and the new)."""
    stored = store.controls.get(name)
    document = stored.controls.to_dict() if stored is not None else {}
    pii = dict(document.get("pii") or {})
    for field, mark in marks.items():
        before = pii.get(field)
        pii[field] = mark if before is None or MARKS.index(mark) > MARKS.index(before) else before
    if stored is not None and pii == dict(stored.controls.pii):
        return
    document["pii"] = pii
    store.controls.set(name, document, actor=actor, source=source, reason="PII marks at registration")
