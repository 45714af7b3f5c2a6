"""Names and references: ``name``, ``name@alias``, ``name/version``.

Model names and aliases are checked here, once, for every entry point (CLI, SDK, HTTP), so
that nothing that could act as a path (``..``, ``/``, ``\\``, NUL, percent-encoding) ever
reaches a store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.errors import InvalidName

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_VERSION = 2**31 - 1


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise ``InvalidName``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        shown = repr(name)[:80]
        raise InvalidName(
            f"invalid model name {shown}",
            hint="use letters, digits, '.', '_' and '-' (no '..'), starting with a letter or digit, "
            "at most 128 characters",
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias name, else raise ``InvalidName``."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias.isdigit():
        raise InvalidName(
            f"invalid alias {repr(alias)[:80]}",
            hint="use letters, digits, '_' and '-', starting with a letter, at most 64 characters",
        )
    return alias


def parse_version(text: str | int) -> int:
    """A version number from user text: a positive integer."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 10:
        value = int(text)
    else:
        raise InvalidName(f"invalid version {repr(text)[:40]}", hint="versions are positive integers: 1, 2, 3...")
    if not 1 <= value <= MAX_VERSION:
        raise InvalidName(f"invalid version {value}", hint="versions are positive integers: 1, 2, 3...")
    return value


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference to a model version, directly or through an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def follows_alias(self) -> bool:
        return self.alias is not None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_ref(text: str) -> ModelRef:
    """Parse ``name``, ``name@alias`` or ``name/version`` (``name`` means the latest version)."""
    if not isinstance(text, str) or not text:
        raise InvalidName("empty model reference", hint="use NAME, NAME@ALIAS or NAME/VERSION")
    if "@" in text:
        name, _, alias = text.partition("@")
        return ModelRef(check_model_name(name), alias=check_alias(alias))
    if "/" in text:
        name, _, version = text.partition("/")
        return ModelRef(check_model_name(name), version=parse_version(version))
    return ModelRef(check_model_name(text))
