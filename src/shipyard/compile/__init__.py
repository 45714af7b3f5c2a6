"""Compiled runtimes: a registered model's exact ONNX equivalent, verified before it serves.

``compile_model`` converts a loaded native model (``convert``), loads the result in ONNX
Runtime (``runtime.CompiledModel``) and checks that both answer alike on real or synthetic
rows (``verify``, ``rows``). The outcome says which form should serve and why. Importing
this package is cheap: skl2onnx, onnxmltools and onnxruntime load only when used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.errors import ShipyardError, UnsupportedFormat
from shipyard.flavors.base import LoadedModel
from shipyard.schema.batch import Batch
from shipyard.schema.signature import Signature

logger = logging.getLogger(__name__)

NATIVE = "native"
COMPILED = "compiled"
RUNTIMES = ("auto", NATIVE, COMPILED)
COMPILED_FILENAME = "model.compiled.onnx"
ONNXRUNTIME = "onnxruntime"
FAILED_TO_CONVERT = "failed to convert"
NOT_CHECKED = "not checked: no rows to check the compiled form on (register with a sample or training data)"


@dataclass(frozen=True)
class Outcome:
    """What compiling one version gave."""

    model_bytes: bytes | None
    """The ONNX model, when conversion succeeded (kept even when it disagrees, for review)."""
    report: dict[str, Any]
    serving_runtime: str
    error: str | None
    """Why the native runtime serves, when it does."""


def compile_model(
    native: LoadedModel,
    signature: Signature,
    checks: Sequence[Batch],
    *,
    data: str,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Convert ``native``, then check the compiled form on ``checks`` (described by ``data``).

    The outcome's ``error`` says in plain words why the native form serves: ``no ONNX
    converter for X models``, ``failed to convert: …``, ``disagreed on k of N rows …`` or
    ``not checked: …`` (``runtime_statement`` puts it in a sentence)."""
    from shipyard.compile.convert import convert
    from shipyard.compile.runtime import load_compiled
    from shipyard.compile.verify import check_agreement

    def refused(reason: str, model_bytes: bytes | None = None, base: dict[str, Any] | None = None) -> Outcome:
        report = {**(base or {"data": data}), "agreed": False, "reason": reason}
        return Outcome(model_bytes, report, NATIVE, reason)

    if signature.kind != "columns":
        return refused("not compiled: only models with a columns signature are")
    try:
        offered = native.compilable(signature)
    except UnsupportedFormat as exc:
        return refused(f"not compiled: {exc.message}")
    if offered is None:
        return refused(f"no ONNX converter for {native.flavor} models")
    try:
        conversion = convert(offered, signature, [spec.name for spec in native.outputs])
    except UnsupportedFormat as exc:
        return refused(f"{FAILED_TO_CONVERT}: {exc.message}")
    except Exception as exc:
        # A converter bug must never fail a registration: the native form serves, and says why.
        logger.warning("compiling failed", exc_info=True)
        return refused(f"{FAILED_TO_CONVERT}: the converter raised {_short(exc)}")
    base = {"precision": conversion.precision, "converter": dict(conversion.converter), "data": data}
    try:
        compiled = load_compiled(conversion.model_bytes, signature)
    except ShipyardError as exc:
        return refused(f"{FAILED_TO_CONVERT}: {exc.message}", conversion.model_bytes, base)
    if not any(batch.n_rows for batch in checks):
        return refused(NOT_CHECKED, conversion.model_bytes, {**base, "rows_checked": 0})
    try:
        report = {
            **check_agreement(native, compiled, checks, precision=conversion.precision, progress=progress),
            **base,
        }
    except ShipyardError as exc:
        return refused(f"the compiled form failed on the check rows: {exc.message}", conversion.model_bytes, base)
    except Exception as exc:
        # A compiled graph failing on rows the native model answers is a disagreement.
        return refused(f"the compiled form failed on the check rows: {_short(exc)}", conversion.model_bytes, base)
    if not report["agreed"]:
        logger.info("the compiled form %s", report["reason"])
        return Outcome(conversion.model_bytes, report, NATIVE, str(report["reason"]))
    return Outcome(conversion.model_bytes, report, COMPILED, None)


def _short(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def runtime_statement(serving_runtime: str, compile_error: str | None, report: Mapping[str, Any] | None) -> str:
    """Which runtime serves a version and why, in plain words: ``compiled (agrees with the
    native model on 10005 rows)`` or ``native (no ONNX converter for python models)``."""
    if serving_runtime == COMPILED:
        rows = (report or {}).get("rows_checked")
        return f"compiled (agrees with the native model on {rows} rows)" if rows else "compiled"
    if compile_error:
        return f"native ({compile_error})"
    return "native (not compiled)"


__all__ = [
    "COMPILED",
    "COMPILED_FILENAME",
    "NATIVE",
    "ONNXRUNTIME",
    "RUNTIMES",
    "Outcome",
    "compile_model",
    "runtime_statement",
]
