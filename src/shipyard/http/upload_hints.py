"""Hints in the upload's own words.

Registration is one code path for the CLI, the SDK and the HTTP upload
(``POST /api/models/{name}/versions``), and its refusals carry the CLI's hints
("register with --trust-type mod.Type", "--sample FILE"). Someone uploading over HTTP has
no flags: they have the ``metadata`` JSON part and the ``sample`` file part. This table
says, once, which flag is which upload field; ``http/errors`` applies it to the hints of
the upload route's errors.
"""

from __future__ import annotations

import re

UPLOAD_PATH = re.compile(r"^/api/models/[^/]+/versions$")

# Python's spelling in parentheses after the flag ("(trusted_types=[...] in Python)",
# "(--sample FILE, sample=X[:5])"): the upload has its own, given instead.
_PYTHON_ASIDE = re.compile(r"\s*\((?:[a-z_]+=[^()]*?|[a-z_]+=\[\.\.\.\] in Python)\)")
_TRUST_TYPES = re.compile(r"--trust-type ([\w.<>\[\]]+)(?:\s+--trust-type ([\w.<>\[\]]+))*")
_REWORDINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\(--sample FILE, sample=[^)]*\)"), "(a 'sample' file part: CSV, or JSON columns and data)"),
    (re.compile(r"--sample FILE"), "a 'sample' file part"),
    (re.compile(r"--trust-pickle"), '"trust_pickle": true in the metadata part'),
    (re.compile(r"--trust-code"), '"trust_code": true in the metadata part'),
    (re.compile(r"--flavor \(([^)]*)\)"), r'"flavor" in the metadata part (\1)'),
    (re.compile(r"drop --flavor"), 'drop "flavor" from the metadata part'),
    (re.compile(r"--flavor"), '"flavor" in the metadata part'),
)


def is_upload(path: str) -> bool:
    """Whether ``path`` is the registration-by-upload route."""
    return UPLOAD_PATH.match(path) is not None


def for_upload(hint: str) -> str:
    """``hint`` with the CLI's flags named as the upload's fields."""
    if "--" not in hint:
        return hint
    text = _TRUST_TYPES.sub(_trusted_types, hint)
    for pattern, replacement in _REWORDINGS:
        text = pattern.sub(replacement, text)
    return _PYTHON_ASIDE.sub("", text)


def _trusted_types(match: re.Match[str]) -> str:
    names = re.findall(r"--trust-type ([\w.<>\[\]]+)", match.group(0))
    listed = ", ".join(f'"{name}"' for name in names)
    return f'"trusted_types": [{listed}] in the metadata part'
