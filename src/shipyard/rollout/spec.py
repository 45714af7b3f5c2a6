"""The deployment spec: a named endpoint whose traffic is shared between variants.

A spec is YAML (JSON is YAML too), read by ``rollout/spec_yaml.parse_spec`` into a frozen
:class:`DeploymentSpec`. Every refusal is one :class:`~shipyard.errors.InvalidSpec` whose
message names the field path (``variants.candidate.weight``) and, for YAML text, the line;
``details`` carry ``field``, ``line`` and ``source``.

Roles: ``primary`` (answers what canaries leave), ``canary`` (``weight``: percent of the
traffic), ``shadow`` (gets a copy of a ``sample`` of requests; never answers), ``arm`` (A/B:
``weight`` percent of the sticky keys; the arms' weights sum to 100, with no primary or canary).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard.errors import InvalidName, InvalidSpec
from shipyard.registry.refs import ModelRef, check_model_name, parse_ref

Role = Literal["primary", "canary", "shadow", "arm"]
Strategy = Literal["canary", "bluegreen", "experiment", "shadow"]
ROLES: tuple[str, ...] = ("primary", "canary", "shadow", "arm")
STRATEGIES: tuple[str, ...] = ("canary", "bluegreen", "experiment", "shadow")

MAX_SPEC_BYTES = 256 * 1024
"""A spec is a few lines; anything this large is a mistake (or an attack on the parser)."""

_VARIANT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,127}$")
_EPSILON = 1e-9

Path = tuple[str | int, ...]


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a metric name (an experiment's metric, an outcome's)."""
    return bool(_METRIC_NAME.fullmatch(name))


def _problem(path: Path, message: str, *, near: Path | None = None) -> InvalidSpec:
    """A refusal at ``path``; the line is added by the entry point that knows the text
    (the line of ``near`` when ``path`` is absent from it, as a missing block is)."""
    return InvalidSpec(message, field=dotted(path), near=dotted(near) if near else None)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(spec)"


def _number(value: Any, what: str) -> float | int:
    """A JSON number (never a bool or a numeric string), finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}"[:200])
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


def _plain(value: float | int) -> float | int:
    """``10.0`` as ``10``: canonical output keeps whole numbers whole."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Variant(_Frozen):
    """One model behind the deployment, and what it does with the traffic."""

    model: str
    role: Role
    weight: float | int | None = None
    """Percent of the traffic (canary) or of the sticky keys (arm), 0-100."""
    sample: float | int | None = None
    """Share of the requests a shadow gets a copy of, 0-1 (default 1.0)."""

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a model reference (NAME, NAME/VERSION or NAME@ALIAS), got {value!r}"[:200])
        try:
            return str(parse_ref(value))
        except InvalidName as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("weight", mode="before")
    @classmethod
    def _weight(cls, value: Any) -> float | int | None:
        if value is None:
            return None
        weight = _number(value, "a weight")
        if not 0 <= weight <= 100:
            raise ValueError(f"a weight is a percent between 0 and 100, got {weight}")
        if abs(weight * 100 - round(weight * 100)) > 1e-6:
            raise ValueError(f"a weight has at most two decimals (0.01%), got {weight}")
        return _plain(weight)

    @field_validator("sample", mode="before")
    @classmethod
    def _sample(cls, value: Any) -> float | int | None:
        if value is None:
            return None
        sample = _number(value, "a sample rate")
        if not 0 <= sample <= 1:
            raise ValueError(f"a sample rate is between 0 and 1, got {sample}")
        return _plain(sample)

    @property
    def ref(self) -> ModelRef:
        return parse_ref(self.model)

    @property
    def sample_rate(self) -> float:
        """The share of requests a shadow is sent (1.0 unless ``sample`` says otherwise)."""
        return 1.0 if self.sample is None else float(self.sample)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "role": self.role}
        if self.weight is not None:
            out["weight"] = self.weight
        if self.role == "shadow":
            out["sample"] = _plain(self.sample_rate)
        return out


class Gates(_Frozen):
    """Thresholds a canary must meet at each analysis step (an absent one is not checked)."""

    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    max_p99_ratio: float | None = Field(default=None, gt=0)
    max_prediction_psi: float | None = Field(default=None, ge=0)
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    min_outcome_ratio: dict[str, float] | None = None
    """Per outcome metric (from feedback recorded against request ids): the canary's mean
    over the primary's must be at least this, e.g. ``{conversion: 0.95}``."""

    @field_validator("max_error_rate", "max_p99_ratio", "max_prediction_psi", "min_agreement", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return None if value is None else _number(value, "a gate")

    @field_validator("min_outcome_ratio", mode="before")
    @classmethod
    def _outcomes(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not value:
            raise ValueError("min_outcome_ratio maps outcome metric names to ratios, e.g. {conversion: 0.95}")
        out: dict[str, float] = {}
        for name, ratio in value.items():
            if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a metric name (letters, digits, '_', '.', ':', '-')"[:200])
            number = _number(ratio, f"the ratio for {name}")
            if number <= 0:
                raise ValueError(f"the ratio for {name} must be above 0, got {number}")
            out[name] = float(number)
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            if value is None:
                continue
            out[key] = {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else _plain(value)
        return out


class Analysis(_Frozen):
    """Progressive delivery: the canary's traffic steps, each held ``bake_seconds``."""

    steps: tuple[float | int, ...] = (10, 25, 50, 100)
    bake_seconds: float = Field(default=300, gt=0)
    min_requests: int = Field(default=200, ge=1, strict=True)
    gates: Gates = Gates()
    agreement_tolerance: float = Field(default=0.01, ge=0, le=1)
    """Numeric predictions agree when their relative difference is at most this."""
    mirror: float = Field(default=1.0, ge=0, le=1)
    """The share of the canary's requests also computed on the primary (off the request
    path) for the agreement gate; 0 turns mirroring off."""

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> tuple[float | int, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("steps must be a non-empty list of percents, e.g. [10, 25, 50, 100]")
        steps = tuple(_plain(_number(v, "a step")) for v in value)
        for i, step in enumerate(steps):
            if not 0 < step <= 100:
                raise ValueError(f"step {i} ({step}) is not a percent above 0 and at most 100")
            if i and step <= steps[i - 1]:
                raise ValueError(f"steps must increase: {steps[i - 1]} then {step}")
        if steps[-1] != 100:
            raise ValueError(f"the last step must be 100, not {steps[-1]}")
        return steps

    @field_validator("bake_seconds", "agreement_tolerance", "mirror", mode="before")
    @classmethod
    def _bake(cls, value: Any) -> float | int:
        return _number(value, "bake_seconds")

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "bake_seconds": _plain(self.bake_seconds),
            "min_requests": self.min_requests,
            "gates": self.gates.to_dict(),
            "agreement_tolerance": _plain(self.agreement_tolerance),
            "mirror": _plain(self.mirror),
        }


class StickyKey(_Frozen):
    """Where an experiment's sticky key comes from: one header or one input field."""

    header: str | None = None
    field: str | None = None

    @field_validator("header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an HTTP header name"[:200])
        return value

    @field_validator("field")
    @classmethod
    def _field(cls, value: str | None) -> str | None:
        if value is not None and not (0 < len(value) <= 256):
            raise ValueError("an input field name is 1 to 256 characters")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> StickyKey:
        if (self.header is None) == (self.field is None):
            raise ValueError("a sticky key names exactly one source: {header: NAME} or {field: INPUT_NAME}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"header": self.header} if self.header is not None else {"field": self.field}


class Experiment(_Frozen):
    """An A/B experiment over the arms: what is measured and how strictly."""

    sticky_key: StickyKey
    metric: str
    min_detectable_effect: float = Field(gt=0)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not _METRIC_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a metric name (letters, digits, '_', '.', ':', '-')"[:200])
        return value

    @field_validator("min_detectable_effect", "alpha", "power", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> float | int:
        return _number(value, "this")

    def to_dict(self) -> dict[str, Any]:
        return {
            "sticky_key": self.sticky_key.to_dict(),
            "metric": self.metric,
            "min_detectable_effect": _plain(self.min_detectable_effect),
            "alpha": _plain(self.alpha),
            "power": _plain(self.power),
        }


class DeploymentSpec(_Frozen):
    """A validated deployment spec. Build it with ``spec_yaml.parse_spec`` or :meth:`from_dict`."""

    deployment: str
    variants: dict[str, Variant]
    strategy: Strategy | None = None
    """Inferred when absent: ``experiment`` with arms, ``canary`` with canaries, ``shadow``
    with only shadows beside the primary, else ``canary``."""
    description: str = Field(default="", max_length=4096)
    analysis: Analysis | None = None
    experiment: Experiment | None = None

    @field_validator("deployment")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_model_name(value)
        except InvalidName as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _rules(self) -> DeploymentSpec:
        _check_rules(self)
        if self.strategy is None:
            object.__setattr__(self, "strategy", _infer_strategy(self))
        return self

    # -- views -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.deployment

    @property
    def resolved_strategy(self) -> str:
        return self.strategy or _infer_strategy(self)

    @property
    def primary(self) -> str | None:
        """The primary variant's name (``None`` for an experiment)."""
        return next((n for n, v in self.variants.items() if v.role == "primary"), None)

    @property
    def canaries(self) -> dict[str, Variant]:
        return {n: v for n, v in self.variants.items() if v.role == "canary"}

    @property
    def shadows(self) -> dict[str, Variant]:
        return {n: v for n, v in self.variants.items() if v.role == "shadow"}

    @property
    def arms(self) -> dict[str, Variant]:
        return {n: v for n, v in self.variants.items() if v.role == "arm"}

    @property
    def primary_weight(self) -> float | int:
        """What the primary answers: 100 minus the canaries' weights (0 for an experiment)."""
        if self.primary is None:
            return 0
        return _plain(round(100 - sum(float(v.weight or 0) for v in self.canaries.values()), 2))

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical and JSON-serialisable: fixed key order, variants in spec order,
        defaults filled in (the strategy, a shadow's sample)."""
        out: dict[str, Any] = {
            "deployment": self.deployment,
            "strategy": self.resolved_strategy,
            "description": self.description,
            "variants": {n: v.to_dict() for n, v in self.variants.items()},
        }
        if self.analysis is not None:
            out["analysis"] = self.analysis.to_dict()
        if self.experiment is not None:
            out["experiment"] = self.experiment.to_dict()
        return out

    def canonical_json(self) -> str:
        """One compact line of JSON: equal specs give equal text (for digests and diffs)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def to_yaml(self) -> str:
        return str(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "spec") -> DeploymentSpec:
        """Validate an already-parsed spec (JSON body, stored revision): no line numbers."""
        return validate_spec(data, source=source, lines=None)


def _infer_strategy(spec: DeploymentSpec) -> str:
    roles = {v.role for v in spec.variants.values()}
    if "arm" in roles:
        return "experiment"
    if "canary" in roles:
        return "canary"
    if "shadow" in roles:
        return "shadow"
    return "canary"


def _check_rules(spec: DeploymentSpec) -> None:
    """The rules across fields; each refusal names the field it is about."""
    if not spec.variants:
        raise _problem(("variants",), "a deployment needs at least one variant")
    by_role: dict[str, list[str]] = {r: [] for r in ROLES}
    for name, variant in spec.variants.items():
        path: Path = ("variants", name)
        if not _VARIANT_NAME.fullmatch(name):
            raise _problem(
                path, f"invalid variant name {name!r}: use letters, digits, '_' and '-', starting with a letter"
            )
        by_role[variant.role].append(name)
        if variant.role in ("canary", "arm") and variant.weight is None:
            raise _problem((*path, "weight"), f"a {variant.role} needs a weight (percent of the traffic)")
        if variant.role in ("primary", "shadow") and variant.weight is not None:
            what = (
                "the primary answers what the canaries leave" if variant.role == "primary" else "a shadow never answers"
            )
            raise _problem((*path, "weight"), f"a {variant.role} takes no weight ({what})")
        if variant.role != "shadow" and variant.sample is not None:
            raise _problem((*path, "sample"), f"only a shadow takes a sample rate, not a {variant.role}")

    primaries, canaries, shadows, arms = by_role["primary"], by_role["canary"], by_role["shadow"], by_role["arm"]
    if len(primaries) > 1:
        raise _problem(
            ("variants", primaries[1], "role"), f"two primaries: {primaries[0]} and {primaries[1]} (at most one)"
        )
    if arms:
        if primaries or canaries:
            other = (primaries + canaries)[0]
            raise _problem(
                ("variants", other, "role"),
                f"arms cannot be mixed with a primary or canaries: {other} is a {spec.variants[other].role}",
            )
        if len(arms) < 2:
            raise _problem(("variants", arms[0], "role"), "an experiment needs at least two arms")
        total = sum(float(spec.variants[a].weight or 0) for a in arms)
        if abs(total - 100) > _EPSILON:
            raise _problem(
                ("variants", arms[-1], "weight"), f"the arms' weights sum to {_plain(round(total, 6))}, not 100"
            )
        if spec.experiment is None:
            raise _problem(
                ("experiment",), "arms need an experiment block (sticky_key, metric, ...)", near=("variants", arms[0])
            )
        if spec.analysis is not None:
            raise _problem(("analysis",), "analysis is for canaries; an experiment is judged by its report")
    else:
        if not primaries:
            first = (canaries + shadows)[0]
            raise _problem(("variants", first, "role"), "no primary: canaries and shadows need a primary variant")
        total = sum(float(spec.variants[c].weight or 0) for c in canaries)
        if total > 100 + _EPSILON:
            raise _problem(
                ("variants", canaries[-1], "weight"),
                f"the canaries' weights sum to {_plain(round(total, 6))}, over 100 (the primary gets 100 minus them)",
            )
        if spec.experiment is not None:
            raise _problem(("experiment",), "an experiment block needs arms (role: arm)")
        if spec.analysis is not None and len(canaries) != 1:
            raise _problem(
                ("analysis",), f"progressive delivery (analysis) needs exactly one canary, not {len(canaries)}"
            )
    strategy = spec.strategy
    if strategy is not None:
        if (strategy == "experiment") != bool(arms):
            needed = "arms" if strategy == "experiment" else "a primary, not arms"
            raise _problem(("strategy",), f"strategy {strategy} needs {needed}")
        if strategy == "bluegreen" and len(canaries) != 1:
            raise _problem(
                ("strategy",), f"strategy bluegreen needs exactly one canary (the green), not {len(canaries)}"
            )
        if strategy == "shadow" and not shadows:
            raise _problem(("strategy",), "strategy shadow needs a shadow variant")


def _line_of(path: Path, lines: Mapping[Path, int] | None) -> int | None:
    if not lines:
        return None
    for depth in range(len(path), 0, -1):
        line = lines.get(path[:depth])
        if line is not None:
            return line
    return None


def _refuse(path: Path, message: str, *, source: str, lines: Mapping[Path, int] | None, near: Path = ()) -> InvalidSpec:
    line = _line_of(path, lines) or _line_of(near, lines)
    field = dotted(path) if path else None
    where = f"{source}, line {line}" if line is not None else source
    text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
    return InvalidSpec(text, field=field, line=line, source=source)


def _parse_path(field: str) -> Path:
    out: list[str | int] = []
    for part in re.split(r"\.(?![^\[]*\])", field):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        if name:
            out.append(name)
        out.extend(int(i) for i in indexes if i)
    return tuple(out)


def validate_spec(data: Any, *, source: str, lines: Mapping[Path, int] | None) -> DeploymentSpec:
    """``data`` validated; ``lines`` (field path → YAML line) put the line in refusals."""
    if not isinstance(data, Mapping):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise _refuse((), f"a spec is a mapping (deployment:, variants:, ...), not {kind}", source=source, lines=lines)
    try:
        return DeploymentSpec.model_validate(data)
    except InvalidSpec as exc:
        path = _parse_path(str(exc.details.get("field") or ""))
        near = _parse_path(str(exc.details.get("near") or ""))
        raise _refuse(path, exc.message, source=source, lines=lines, near=near) from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        path = tuple(p if isinstance(p, str | int) and not isinstance(p, bool) else str(p) for p in error["loc"])
        raise _refuse(path, _explain(error, path), source=source, lines=lines) from None


def _explain(error: Mapping[str, Any], path: Path) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(path[:-1])
        return f"unknown key {path[-1]!r}" + (f" (expected one of: {', '.join(known)})" if known else "")
    if kind == "missing":
        return "required"
    if kind == "literal_error" and path and path[-1] == "role":
        return f"unknown role {error.get('input')!r} (expected one of: {', '.join(ROLES)})"
    if kind == "literal_error" and path == ("strategy",):
        return f"unknown strategy {error.get('input')!r} (expected one of: {', '.join(STRATEGIES)})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _known_keys(path: Path) -> list[str]:
    model: type[BaseModel] = DeploymentSpec
    models: dict[str, type[BaseModel]] = {
        "analysis": Analysis,
        "gates": Gates,
        "experiment": Experiment,
        "sticky_key": StickyKey,
    }
    if len(path) == 2 and path[0] == "variants":
        model = Variant
    elif path:
        last = path[-1]
        if not isinstance(last, str) or last not in models:
            return []
        model = models[last]
    return list(model.model_fields)
