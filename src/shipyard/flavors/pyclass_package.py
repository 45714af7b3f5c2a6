"""Packaging a Python-class model: its code, a manifest and optional data, in one zip.

Layout of the archive::

    shipyard-model.json     {"format": "shipyard.pyclass", "entry": "module:Class", ...}
    code/...                the model's Python files (the import root)
    artifacts/...           optional data files, handed to ``load_context``

The entry class is found by parsing the source with ``ast``; nothing is imported or run
while packaging. Entries are written in sorted order with a fixed timestamp so the same
code packages to the same bytes (artifacts are content-addressed).
"""

from __future__ import annotations

import ast
import json
import logging
import platform
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard.errors import UnsupportedFormat

logger = logging.getLogger(__name__)

MANIFEST = "shipyard-model.json"
FORMAT = "shipyard.pyclass"
CODE_DIR = "code"
ARTIFACTS_DIR = "artifacts"
FILENAME = "model.zip"
ENTRY_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = frozenset({"__pycache__", ARTIFACTS_DIR})


def predict_classes(source: str, filename: str = "<model>") -> list[str]:
    """Top-level classes in ``source`` whose body defines ``predict``."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise UnsupportedFormat(f"{filename} is not valid Python: {exc}") from exc
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == "predict" for item in node.body
        ):
            found.append(node.name)
    return found


def module_name(relative: PurePosixPath) -> str:
    """The import name of a ``.py`` file relative to the code root."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def code_files(src: Path) -> dict[PurePosixPath, Path]:
    """The files to store as code, by path relative to the code root."""
    if src.is_file():
        if src.suffix != ".py":
            raise UnsupportedFormat(f"{src.name} is not a Python file", hint="package a .py file or a directory")
        return {PurePosixPath(src.name): src}
    if not src.is_dir():
        raise UnsupportedFormat(f"{src} does not exist")
    files: dict[PurePosixPath, Path] = {}
    for path in sorted(src.rglob("*")):
        relative = PurePosixPath(path.relative_to(src).as_posix())
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if relative.parts[0] == ARTIFACTS_DIR or relative.name.startswith(".") or relative.suffix == ".pyc":
            continue
        if path.is_symlink():
            # A link could pull in files from anywhere on the packaging machine.
            logger.warning("not packaging symbolic link %s", path)
            continue
        if path.is_file():
            files[relative] = path
    return files


def find_entry(files: dict[PurePosixPath, Path]) -> str:
    """The single ``module:Class`` in the code that defines ``predict``."""
    candidates = []
    for relative, path in files.items():
        if relative.suffix == ".py":
            for cls in predict_classes(path.read_text(encoding="utf-8"), str(relative)):
                candidates.append(f"{module_name(relative)}:{cls}")
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise UnsupportedFormat(
            f"expected exactly one class defining predict, found {found}",
            hint="name the entry point as module:Class",
        )
    return candidates[0]


def check_entry(entry: str, files: dict[PurePosixPath, Path]) -> None:
    if not ENTRY_PATTERN.match(entry):
        raise UnsupportedFormat(f"entry {entry!r} is not of the form module:Class")
    module, cls = entry.split(":")
    by_module = {module_name(r): p for r, p in files.items() if r.suffix == ".py"}
    if module not in by_module:
        raise UnsupportedFormat(f"entry module {module!r} is not among the packaged files")
    path = by_module[module]
    if cls not in predict_classes(path.read_text(encoding="utf-8"), path.name):
        raise UnsupportedFormat(f"{module} defines no top-level class {cls!r} with a predict method")


def write_package(
    dest: Path,
    entry: str,
    files: dict[PurePosixPath, Path],
    artifacts: Path | None,
    extra_manifest: dict[str, Any] | None = None,
) -> Path:
    """Write the zip and return its path."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "entry": entry,
        "python": platform.python_version(),
        **(extra_manifest or {}),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add(zf, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
        for relative in sorted(files):
            _add(zf, f"{CODE_DIR}/{relative}", files[relative].read_bytes())
        if artifacts is not None:
            for path in sorted(artifacts.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    _add(zf, f"{ARTIFACTS_DIR}/{path.relative_to(artifacts).as_posix()}", path.read_bytes())
    return dest


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    zf.writestr(info, data)


def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except (KeyError, ValueError) as exc:
        raise UnsupportedFormat(f"the model package has no readable {MANIFEST}: {exc}") from exc
    if not isinstance(manifest, dict) or not ENTRY_PATTERN.match(str(manifest.get("entry", ""))):
        raise UnsupportedFormat(f"{MANIFEST} must hold an entry of the form module:Class")
    return manifest
