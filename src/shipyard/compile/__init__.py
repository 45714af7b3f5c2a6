"""Compiled runtimes: a registered model's exact ONNX equivalent, verified before it serves.

``compile_model`` converts a loaded native model (``convert``), loads the result in ONNX
Runtime (``runtime.CompiledModel``) and checks that both answer alike on real or synthetic
rows (``verify``, ``rows``). The outcome says which form should serve and why. Importing
this package is cheap: skl2onnx, onnxmltools and onnxruntime load only when used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
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
    """Convert ``native``, then check the compiled form on ``checks`` (described by ``data``)."""
    from shipyard.compile.convert import convert
    from shipyard.compile.runtime import load_compiled
    from shipyard.compile.verify import check_agreement

    try:
        conversion = convert(native, signature)
    except UnsupportedFormat as exc:
        return Outcome(None, {"agreed": False, "reason": exc.message, "data": data}, NATIVE, exc.message)
    except Exception as exc:
        # A converter bug must never fail a registration: the native form serves, and says why.
        logger.warning("compiling failed", exc_info=True)
        reason = f"the converter failed: {type(exc).__name__}: {str(exc).strip()[:200]}"
        return Outcome(None, {"agreed": False, "reason": reason, "data": data}, NATIVE, reason)
    base = {"precision": conversion.precision, "converter": dict(conversion.converter), "data": data}
    try:
        compiled = load_compiled(conversion.model_bytes, signature)
        report = {
            **check_agreement(native, compiled, checks, precision=conversion.precision, progress=progress),
            **base,
        }
    except ShipyardError as exc:
        return Outcome(conversion.model_bytes, {**base, "agreed": False, "reason": exc.message}, NATIVE, exc.message)
    except Exception as exc:
        # A compiled graph failing on rows the native model answers is a disagreement.
        reason = f"the compiled model failed: {type(exc).__name__}: {str(exc).strip()[:200]}"
        return Outcome(conversion.model_bytes, {**base, "agreed": False, "reason": reason}, NATIVE, reason)
    if not report["agreed"]:
        reason = f"the compiled form does not agree with the native model: {report['reason']}"
        logger.info("%s", reason)
        return Outcome(conversion.model_bytes, report, NATIVE, reason)
    return Outcome(conversion.model_bytes, report, COMPILED, None)


__all__ = ["COMPILED", "COMPILED_FILENAME", "NATIVE", "ONNXRUNTIME", "RUNTIMES", "Outcome", "compile_model"]
