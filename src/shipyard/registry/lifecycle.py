"""The rules of a version's lifecycle that need no database: reading a sunset date,
checking a successor reference, and the error a retired version answers with.

The states (``registry/types``): ``active`` → ``deprecated`` → ``retired`` (→ archived
artifacts); ``reinstate`` goes back to ``active`` from either, unless archived.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from shipyard.errors import Gone, InvalidRequest
from shipyard.registry.refs import ModelRef, parse_ref

MAX_SUCCESSOR = 200


def parse_when(text: str, *, what: str = "sunset") -> datetime:
    """A date (``2027-03-01``, midnight UTC) or an ISO 8601 date and time (UTC when it
    names no offset) as an aware UTC datetime; ``InvalidRequest`` for anything else."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise InvalidRequest(f"{what} must be a date (2027-03-01) or an ISO 8601 date and time")
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise InvalidRequest(
            f"{what} {value[:40]!r} is not a date", hint="use 2027-03-01 or 2027-03-01T12:00:00+00:00"
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_sunset(sunset: datetime | None, now: datetime) -> datetime | None:
    """``sunset`` if it is an aware time in the future (the announced end), else ``InvalidRequest``."""
    if sunset is None:
        return None
    if sunset.tzinfo is None:
        raise InvalidRequest("a sunset must carry a time zone")
    if sunset <= now:
        raise InvalidRequest(
            f"sunset {sunset.isoformat()} is in the past",
            hint="a sunset announces when the version will stop answering: give a future date",
        )
    return sunset.astimezone(UTC)


def parse_successor(text: str, *, name: str, version: int) -> ModelRef:
    """The successor reference of ``name/version``: a valid reference that is not itself."""
    if not isinstance(text, str) or len(text) > MAX_SUCCESSOR:
        raise InvalidRequest(f"a successor is a model reference of at most {MAX_SUCCESSOR} characters")
    ref = parse_ref(text)
    if ref.name == name and ref.version == version:
        raise InvalidRequest(f"{name}/{version} cannot be its own successor", hint="name the version that replaces it")
    return ref


def gone(ref: str, successor: str | None, *, archived: bool = False) -> Gone:
    """What a retired version answers: 410, naming its successor."""
    state = "retired and archived" if archived else "retired"
    restore = f"`shipyard models restore {ref}` brings its artifacts back" if archived else None
    if successor:
        return Gone(f"{ref} is {state}; use {successor}", hint=restore, successor=successor)
    return Gone(f"{ref} is {state}", hint=restore or "it names no successor; ask its owner", successor=None)
