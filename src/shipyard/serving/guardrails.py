"""Guardrails: a request's inputs against the served version's reference profile, and a
model's outputs against what outputs can be.

Inputs (``lineage/profile.py`` is the reference, recorded at registration):

- ``input_range:COL``: a numeric value below the profile's ``min`` or above its ``max``;
- ``unseen_category:COL``: a category the training data never had (only for columns whose
  profile lists every category: ``other == 0``);
- ``ood``: a row's largest standardised distance ``|x - mean| / std`` over the numeric
  columns is above ``ood_threshold``.

Outputs: ``output_nonfinite`` (NaN or infinity in a float output), ``output_proba_sum``
(a ``predict_proba`` row not summing to 1 within ``1e-6·classes``), ``output_unknown_label``
(a ``predict`` label outside the known set: the recorded classes, else the profile's
target when it lists every value).

A version's checks are compiled from its profile once (:class:`GuardrailIndex`); a version
without a profile and a target without controls cost one dict lookup each per request.
Messages name columns, never values.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shipyard.errors import GuardrailRejected
from shipyard.governance.controls import Guardrails
from shipyard.registry.types import ModelVersion
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import Signature

logger = logging.getLogger(__name__)

DEFAULT_GUARDRAILS = Guardrails()
"""What applies to a version with a profile when its target's controls say nothing."""
PROBA = "predict_proba"
PREDICT = "predict"


@dataclass(frozen=True)
class NumericCheck:
    column: str
    low: float
    high: float
    mean: float
    std: float
    """0 when the column had one value (no OOD distance then)."""


@dataclass(frozen=True)
class CategoryCheck:
    column: str
    known: frozenset[str]


@dataclass(frozen=True, eq=False)
class NumericBlock:
    """The numeric checks as arrays, so a batch is checked in a few numpy calls."""

    names: tuple[str, ...]
    positions: np.ndarray
    """Each column's position in the signature (a matrix batch's column)."""
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    inv_std: np.ndarray
    """1/std, or 0 for a column with one value (no OOD distance then)."""
    positioned: bool
    """Every column has a signature position (a matrix batch can be sliced)."""
    safe_low: np.ndarray | None = None
    safe_high: np.ndarray | None = None
    """Per column, the values that pass both the range and the OOD check (at the default
    threshold): a batch wholly inside is checked in three numpy calls."""
    safe_threshold: float = 0.0

    @classmethod
    def of(cls, checks: Sequence[NumericCheck], signature: Signature) -> NumericBlock | None:
        if not checks:
            return None
        positions = [signature.position(c.column) for c in checks]
        return cls(
            names=tuple(c.column for c in checks),
            positions=np.asarray([p if p is not None else -1 for p in positions], dtype=np.intp),
            low=np.asarray([c.low for c in checks]),
            high=np.asarray([c.high for c in checks]),
            mean=np.asarray([c.mean for c in checks]),
            inv_std=np.asarray([1.0 / c.std if c.std > 0.0 else 0.0 for c in checks]),
            positioned=all(p is not None for p in positions),
        )

    def with_safe_interval(self, threshold: float) -> NumericBlock:
        """This block with its safe interval for ``threshold`` (a NaN bound: nothing is safe)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = np.where(self.inv_std > 0, threshold / self.inv_std, np.inf)
        low = np.maximum(self.low, self.mean - reach)
        high = np.minimum(self.high, self.mean + reach)
        return replace(self, safe_low=low, safe_high=high, safe_threshold=threshold)

    def values(self, batch: Batch) -> np.ndarray | None:
        """The batch's numeric columns as one float64 matrix (rows x checks), or None."""
        try:
            if self.positioned and batch.layout[0] == "matrix":
                matrix = batch.as_matrix()
                if matrix.dtype.kind in "fiu":
                    return np.asarray(matrix[:, self.positions], dtype=np.float64)
            out = np.empty((batch.n_rows, len(self.names)), dtype=np.float64)
            for j, name in enumerate(self.names):
                out[:, j] = batch.column(name)
            return out
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ProfileChecks:
    """What one version's profile allows, ready for a batch."""

    numeric: tuple[NumericCheck, ...]
    categorical: tuple[CategoryCheck, ...]
    labels: frozenset[str] | None
    """The known output labels as strings (None: unknown, so not checked)."""
    block: NumericBlock | None = None

    @property
    def empty(self) -> bool:
        return not self.numeric and not self.categorical and self.labels is None


@dataclass(frozen=True)
class InputFinding:
    """What the input checks found: flags in the order found, and per flag the first row."""

    flags: tuple[str, ...]
    rows: Mapping[str, int]


NO_FINDING = InputFinding((), {})


def _category(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _label(value: object) -> str:
    """A label as compared with the known set: ``1``, ``1.0`` and ``"1"`` are one label."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    text = _category(value)
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return text


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def compile_checks(
    profile: Mapping[str, Any] | None, signature: Signature, classes: Sequence[Any] | None = None
) -> ProfileChecks | None:
    """The checks of a version whose reference profile is ``profile`` (None: nothing to check).
    Only the signature's input columns are checked; a malformed profile part is skipped."""
    labels = frozenset(_label(c) for c in classes) if classes else None
    if not isinstance(profile, Mapping):
        return ProfileChecks((), (), labels) if labels is not None else None
    columns = profile.get("columns")
    if not isinstance(columns, Mapping):
        return ProfileChecks((), (), labels) if labels is not None else None
    inputs = set(signature.input_names) if signature.kind == "columns" else set()
    numeric: list[NumericCheck] = []
    categorical: list[CategoryCheck] = []
    for name, column in columns.items():
        if name not in inputs or not isinstance(column, Mapping):
            continue
        kind = column.get("type")
        if kind == "numeric":
            low, high = _number(column.get("min")), _number(column.get("max"))
            mean, std = _number(column.get("mean")), _number(column.get("std"))
            if low is None or high is None or mean is None:
                continue
            numeric.append(NumericCheck(name, low, high, mean, std or 0.0))
        elif kind == "categorical":
            top = column.get("top")
            if isinstance(top, Mapping) and top and column.get("other") == 0:
                categorical.append(CategoryCheck(name, frozenset(str(k) for k in top)))
    target = profile.get("target")
    if labels is None and isinstance(target, str):
        described = columns.get(target)
        if isinstance(described, Mapping) and described.get("type") == "categorical" and described.get("other") == 0:
            top = described.get("top")
            if isinstance(top, Mapping) and top:
                labels = frozenset(_label(k) for k in top)
    checks = ProfileChecks(tuple(numeric), tuple(categorical), labels, NumericBlock.of(numeric, signature))
    return None if checks.empty else checks


def check_inputs(checks: ProfileChecks, batch: Batch, ood_threshold: float) -> InputFinding:
    """The input flags of ``batch`` against ``checks`` (numeric columns in one block)."""
    flags: list[str] = []
    rows: dict[str, int] = {}
    far: np.ndarray | None = None
    block = checks.block
    values = block.values(batch) if block is not None else None
    if block is not None and values is not None:
        if block.safe_threshold != ood_threshold or block.safe_low is None:
            block = block.with_safe_interval(ood_threshold)
            object.__setattr__(checks, "block", block)  # the cached checks learn the threshold
        assert block.safe_low is not None and block.safe_high is not None
        # NaN fails both comparisons, so a batch with a missing value takes the full path.
        if ((values >= block.safe_low) & (values <= block.safe_high)).all():
            values = None
    if block is not None and values is not None:
        with np.errstate(invalid="ignore"):
            outside = (values < block.low) | (values > block.high)
            if outside.any():
                for j in np.flatnonzero(outside.any(axis=0)):
                    flag = f"input_range:{block.names[j]}"
                    flags.append(flag)
                    rows[flag] = int(np.argmax(outside[:, j]))
            # NaN (a missing value, or a column with one value) is never far.
            far = (np.abs(values - block.mean) * block.inv_std > ood_threshold).any(axis=1)
    for cat in checks.categorical:
        try:
            column = batch.column(cat.column)
        except KeyError:
            continue
        for row, value in enumerate(column.tolist()):
            if not _is_missing(value) and _category(value) not in cat.known:
                flag = f"unseen_category:{cat.column}"
                flags.append(flag)
                rows[flag] = row
                break
    if far is not None and far.any():
        flags.append("ood")
        rows["ood"] = int(np.argmax(far))
    return InputFinding(tuple(flags), rows) if flags else NO_FINDING


def rejection(finding: InputFinding, ref: str) -> GuardrailRejected:
    """The 422 for inputs a ``reject`` guardrail refuses: the first flag's column and row."""
    flag = finding.flags[0]
    row = finding.rows.get(flag, 0)
    kind, _, column = flag.partition(":")
    if kind == "input_range":
        what = f"input {column!r} is outside the range of {ref}'s training data (row {row})"
    elif kind == "unseen_category":
        what = f"input {column!r} has a category {ref}'s training data never had (row {row})"
    else:
        what = f"row {row} is too far from {ref}'s training data (out of distribution)"
    more = len(finding.flags) - 1
    return GuardrailRejected(
        what + (f"; {more} more finding(s)" if more else ""),
        hint="send inputs like the training data's, or ask an admin about the target's guardrails",
        flags=list(finding.flags),
    )


def check_outputs(outputs: Outputs, labels: frozenset[str] | None) -> tuple[str, ...]:
    """The output flags of a model's answer."""
    flags: list[str] = []
    for array in outputs.values():
        # A finite total means every value is finite (one reduction); only a non-finite total
        # (a NaN or an infinity, or an overflow of huge values) is looked at value by value.
        if array.dtype.kind in "fc" and not math.isfinite(float(np.abs(array).sum())) and not np.isfinite(array).all():
            flags.append("output_nonfinite")
            break
    proba = outputs.get(PROBA)
    if proba is not None and proba.ndim == 2 and proba.dtype.kind in "fiu" and proba.shape[1] > 0:
        sums = proba.sum(axis=1, dtype=np.float64)
        if not (np.abs(sums - 1.0) <= 1e-6 * proba.shape[1]).all():
            flags.append("output_proba_sum")
    predicted = outputs.get(PREDICT)
    if labels is not None and predicted is not None and _unknown_label(predicted, labels):
        flags.append("output_unknown_label")
    return tuple(flags)


def _unknown_label(predicted: np.ndarray, labels: frozenset[str]) -> bool:
    values = set(predicted.tolist()) if predicted.ndim == 1 else set()
    return any(not _is_missing(v) and _label(v) not in labels for v in values)


class GuardrailIndex:
    """Compiled checks per served version, keyed by (model, version): built on first use."""

    def __init__(self) -> None:
        self._checks: dict[tuple[str, int], ProfileChecks | None] = {}

    def checks(self, model: str, version: int, record: ModelVersion) -> ProfileChecks | None:
        """``record``'s checks (None: nothing to check); one dict lookup after the first call."""
        key = (model, version)
        try:
            return self._checks[key]
        except KeyError:
            pass
        classes = record.flavor_metadata.get("classes")
        try:
            compiled = compile_checks(
                record.lineage.profile, record.signature, classes if isinstance(classes, list | tuple) else None
            )
        except Exception:
            logger.exception("cannot compile the guardrails of %s/%d; not checking it", model, version)
            compiled = None
        self._checks[key] = compiled
        return compiled
