"""Which types a skops file may instantiate without the registrant naming them.

skops refuses any type outside its own small default list. Common scikit-learn models
need more (``sklearn.tree._tree.Tree`` for forests, ``TreePredictor`` for histogram
gradient boosting, ``KDTree`` for neighbours), and every scikit-learn release adds
internals, so a hand-written list would rot. Instead a type is allowed when it is a class
defined by scikit-learn, numpy or scipy themselves. Everything else (the registrant's own
transformers, xgboost inside a pipeline, ...) must be named with ``--trust-type``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from shipyard.errors import ModelLoadError, UnsafeFormat

logger = logging.getLogger(__name__)

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy")
# Parts of those packages that are test or build tooling, not model internals; a crafted
# file has no business naming them, and importing a test module is not side-effect free.
_DENIED_PARTS = frozenset({"tests", "testing", "conftest", "f2py", "distutils", "ctypeslib", "_pytesttester"})
_QUALIFIED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def is_allowlisted(type_name: str) -> bool:
    """True when ``type_name`` is a class defined inside scikit-learn, numpy or scipy.

    Only names under those packages are ever imported to check, and a name must resolve
    to a class: functions (which a pipeline could call at predict time) need naming.
    """
    if not _QUALIFIED.match(type_name):
        return False
    parts = type_name.split(".")
    if parts[0] not in TRUSTED_PACKAGES or _DENIED_PARTS.intersection(parts):
        return False
    module_name, attr = type_name.rsplit(".", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return False
    return isinstance(getattr(module, attr, None), type)


def untrusted_types(path: Path) -> list[str]:
    """Every type in the file that skops itself does not trust (read without loading)."""
    from skops.io import get_untrusted_types

    try:
        return sorted(get_untrusted_types(file=path))
    except Exception as exc:
        raise ModelLoadError(f"{path.name} is not a readable skops file: {exc}") from exc


def beyond_allowlist(path: Path) -> tuple[str, ...]:
    """The types in the file that the registrant must trust explicitly."""
    return tuple(name for name in untrusted_types(path) if not is_allowlisted(name))


def trusted_for_load(path: Path, extra: Iterable[str]) -> list[str]:
    """The full list to hand ``skops.io.load``, or ``UnsafeFormat`` naming what is missing."""
    named = set(extra)
    found = untrusted_types(path)
    missing = [name for name in found if name not in named and not is_allowlisted(name)]
    if missing:
        raise UnsafeFormat(
            f"{path.name} contains types that are not trusted: {', '.join(missing)}",
            hint=refusal_hint(missing),
            types=missing,
        )
    return found


def refusal_hint(missing: Iterable[str]) -> str:
    flags = " ".join(f"--trust-type {name}" for name in missing)
    return f"loading them may run their code; if you trust their source, register with {flags}"
