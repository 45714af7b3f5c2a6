"""Paths that stay inside their root.

Every path built from something a caller supplied (a digest, a file name, a model name)
goes through ``safe_join`` before it touches the disk. The checks are deliberately
stricter than the operating system needs: a name that *could* mean "go up" on some
platform, or after some layer percent-decodes it, is refused here rather than trusted
to be harmless later.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote

from shipyard.errors import PathEscape

logger = logging.getLogger(__name__)

# A letter and a colon reads as a drive on Windows ("C:evil" is relative to C's cwd).
_DRIVE = re.compile(r"^[A-Za-z]:")
# Percent-encodings of the characters that could change meaning once decoded: '.', '/',
# '\\' and NUL. Any other escape is left alone (it decodes to an ordinary character).
_ENCODED_DANGER = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_MAX_DECODE_ROUNDS = 4
MAX_NAME_BYTES = 255
"""Bytes of one file name on Linux and macOS file systems (NAME_MAX)."""
_MAX_SUFFIX_CHARS = 16
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _refuse(name: str, why: str) -> PathEscape:
    shown = repr(name)[:120]
    return PathEscape(f"refused path {shown}: {why}", hint="use a plain relative name without '..', '\\' or '%'")


def _decoded_forms(name: str) -> list[str]:
    """``name`` and each successive percent-decoding of it (double encoding included)."""
    forms = [name]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def _components(name: str) -> list[str]:
    """Check one caller-supplied relative name and split it on '/'; raise ``PathEscape``."""
    if not isinstance(name, str):
        raise PathEscape(f"refused path component of type {type(name).__name__}")
    if name == "":
        raise _refuse(name, "empty name")
    if _ENCODED_DANGER.search(name):
        raise _refuse(name, "percent-encoded '.', '/', '\\' or NUL")
    for form in _decoded_forms(name):
        if "\x00" in form:
            raise _refuse(name, "NUL byte")
        if "\\" in form:
            raise _refuse(name, "backslash")
        if form.startswith(("/", "~")):
            raise _refuse(name, "absolute or home-relative path")
        if _DRIVE.match(form):
            raise _refuse(name, "drive letter")
        if any(part == ".." for part in form.split("/")):
            raise _refuse(name, "'..' component")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise _refuse(name, "names no file")
    return parts


def check_relative_name(name: str) -> str:
    """Return ``name`` normalised ('.' and empty segments dropped) if it is a safe relative name.

    Raises ``PathEscape`` for '..', absolute paths, backslashes, NUL, drive letters and
    percent-encoded forms of any of these.
    """
    return "/".join(_components(name))


def upload_name(raw: str | None, *, default: str = "model") -> str:
    """A file name to store an upload under, from the name the client sent.

    Only the last component is kept, and it must be a safe relative name (``PathEscape``
    otherwise: '..', backslash, NUL, percent-encoded escapes). Control characters become
    '_', and a name longer than ``MAX_NAME_BYTES`` in UTF-8 is shortened, its extension
    kept, so the file system never refuses it.
    """
    name = Path(raw or default).name or default
    check_relative_name(name)
    name = _CONTROL.sub("_", name)
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix) > _MAX_SUFFIX_CHARS:
        stem, suffix = name, ""
    tail = f".{suffix}" if suffix else ""
    budget = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    short = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return short + tail


def safe_join(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and return the resolved path, which is inside ``root``.

    Each part may hold several '/'-separated segments. Symlinks are resolved, so a link
    anywhere along the way that leads outside ``root`` raises ``PathEscape`` just as '..'
    does. The path need not exist.
    """
    base = Path(root).resolve()
    segments: list[str] = []
    for part in parts:
        segments.extend(_components(part))
    if not segments:
        raise PathEscape("refused path: no components given")
    candidate = base.joinpath(*segments)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops: refuse rather than guess
        raise PathEscape(f"refused path {'/'.join(segments)!r}: it cannot be resolved ({type(exc).__name__})") from exc
    if resolved != base and not resolved.is_relative_to(base):
        logger.warning("refused a path that resolves outside its root", extra={"root": str(base)})
        raise PathEscape(
            f"refused path {'/'.join(segments)!r}: it resolves outside its root",
            hint="a symlink inside the store points elsewhere; remove it",
        )
    return resolved
