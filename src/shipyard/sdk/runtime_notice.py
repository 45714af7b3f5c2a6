"""Telling an SDK user which runtime will serve what they registered, and why.

A version whose compiled form was tried but does not serve (no converter, a failed
conversion, a disagreement) serves natively, usually several times slower. Registration
must not hide that: the SDK warns with ``CompileNotice`` naming the reason, and the
statement is kept with what registration returns (``runtime_statement``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from shipyard.compile import NATIVE, runtime_statement


class CompileNotice(UserWarning):
    """Warned when a registered version serves natively because its compiled form was refused."""


def notice(record: Mapping[str, Any], *, stacklevel: int = 3) -> str:
    """The runtime statement for a registered version's JSON ``record``; warns when the
    native runtime serves after compiling was tried."""
    compiled = record.get("compiled") or {}
    serving = str(record.get("serving_runtime") or NATIVE)
    error = record.get("compile_error")
    statement = runtime_statement(serving, error, compiled.get("report"))
    if serving == NATIVE and error:
        ref = f"{record.get('model', '?')}/{record.get('version', '?')}"
        warnings.warn(f"{ref} will be served by the {statement}", CompileNotice, stacklevel=stacklevel)
    return statement
