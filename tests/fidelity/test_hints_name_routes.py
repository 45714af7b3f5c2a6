"""Every route a hint names exists: ``hint="GET /v2/models ..."`` must be a route of the
table (``http/routes``), with its parameters filled in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import shipyard
from shipyard.http.routes import TABLE

SRC = Path(shipyard.__file__).parent
MENTION = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH) (/[^\s,;)'\"`]*)")
PLACEHOLDER = re.compile(r"\{[^}/]*\}|\b[A-Z][A-Z_]+\b")


def _text(node: ast.expr) -> str:
    """A hint's text, its f-string fields as ``{x}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part) if not isinstance(part, ast.FormattedValue) else "{x}" for part in node.values)
    if isinstance(node, ast.BinOp):
        return _text(node.left) + _text(node.right)
    return ""


def hinted_routes() -> list[tuple[str, str, str]]:
    """(where, method, path) for every route named in a ``hint=`` of the source."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg != "hint":
                    continue
                for method, route in MENTION.findall(_text(keyword.value)):
                    found.append((f"{path.relative_to(SRC)}:{node.lineno}", method, route.rstrip(".")))
    return found


def test_some_hints_name_routes() -> None:
    assert len(hinted_routes()) >= 2


def test_every_hinted_route_exists() -> None:
    missing = []
    for where, method, route in hinted_routes():
        filled = PLACEHOLDER.sub("x1", route)
        if TABLE.match(method, filled) is None:
            missing.append(f"{where}: {method} {route}")
    assert missing == []
