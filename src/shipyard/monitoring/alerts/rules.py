"""Alert rules: the YAML file (``settings.alert_rules_file``, default ``$home/alerts.yaml``).

    webhooks:
      ops:
        url: https://hooks.example.com/shipyard
        secret_env: SHIPYARD_OPS_WEBHOOK_SECRET   # the HMAC key is read from this variable
    retrain:
      fraud-retrain:
        command: [python, retrain.py, --model, fraud]   # an argument list, never a shell string
        timeout: 10m
    rules:
      - name: fraud-drift
        target: fraud*                  # a model or deployment name, or a pattern
        figure: drift.share             # any monitored figure
        op: ">"
        threshold: 0.3
        window: 1h                      # the window the figure is computed over
        for: 10m                        # how long the condition must hold before firing
        severity: critical
        notify: [ops, log]
        retrain: fraud-retrain          # drift.* and performance.* rules only

Validated with pydantic; a refusal is a ``ConfigError`` naming the file, the line and the
field. Webhook URLs are checked here (``alerts/urls``) and again at each delivery.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shipyard.errors import ConfigError, InvalidRequest
from shipyard.monitoring.alerts.urls import check_url

MAX_FILE_BYTES = 1024 * 1024
LOG = "log"
"""The channel that writes the alert to the server's log (always available)."""

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_TARGET = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$")
_FIGURE = re.compile(r"^[a-z][a-z0-9_]*\.[^\x00-\x1f]{1,200}$")
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
RETRAIN_FAMILIES = ("drift.", "performance.")
"""Retraining hooks run only for rules on these figures."""

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def parse_duration(value: object) -> float:
    """``90s``, ``10m``, ``1h``, ``7d``, ``250ms`` or a number of seconds → seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is like 30s, 10m, 1h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{str(value)[:40]!r} is not a duration (like 30s, 10m, 1h or 7d)")
    if not math.isfinite(seconds) or seconds < 0 or seconds > 366 * 86400:
        raise ValueError("a duration is between 0 and 366 days")
    return seconds


Duration = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Webhook(_Strict):
    url: str
    secret_env: str = Field(pattern=_ENV)
    """The environment variable holding the HMAC key (the key itself never sits in the file)."""
    timeout: Duration = 5.0
    attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= 60:
            raise ValueError("a webhook timeout is between 0 and 60 seconds")
        return seconds


class Retrain(_Strict):
    """A retraining hook: a command (an argument list) or one of the file's webhooks."""

    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] | None = Field(
        default=None, min_length=1, max_length=256
    )
    webhook: str | None = Field(default=None, pattern=_NAME)
    timeout: Duration = 600.0
    cwd: str | None = None

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: object) -> float:
        seconds = parse_duration(value)
        if not 0 < seconds <= 86400:
            raise ValueError("a retraining timeout is between 0 and 24 hours")
        return seconds

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("a command is a list of arguments ([python, retrain.py]), never a shell string")
        return value

    @model_validator(mode="after")
    def _one(self) -> Retrain:
        if (self.command is None) == (self.webhook is None):
            raise ValueError("a retraining hook has either command: or webhook:, not both or neither")
        return self


class Rule(_Strict):
    name: str = Field(pattern=_NAME)
    target: str
    figure: str
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    window: Duration = 3600.0
    for_: Duration = Field(default=0.0, alias="for")
    severity: Literal["info", "warning", "critical"] = "warning"
    notify: list[str] = Field(default_factory=lambda: [LOG], max_length=32)
    retrain: str | None = Field(default=None, pattern=_NAME)
    description: str = Field(default="", max_length=1000)

    @field_validator("window", "for_", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _TARGET.match(value):
            raise ValueError("a target is a model or deployment name, or a pattern of one (fraud-*)")
        return value

    @field_validator("figure")
    @classmethod
    def _figure(cls, value: str) -> str:
        if not _FIGURE.match(value):
            raise ValueError("a figure is named family.name, e.g. drift.share or performance.accuracy")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("a threshold is a finite number")
        return value

    def holds(self, value: float) -> bool:
        """Whether the condition holds for ``value`` (never for NaN)."""
        return not math.isnan(value) and OPS[self.op](value, self.threshold)

    def matches(self, target: str) -> bool:
        return fnmatchcase(target, self.target)

    def condition(self) -> str:
        return f"{self.figure} {self.op} {self.threshold:g}"


class RuleFile(_Strict):
    webhooks: dict[Annotated[str, Field(pattern=_NAME)], Webhook] = Field(default_factory=dict)
    retrain: dict[Annotated[str, Field(pattern=_NAME)], Retrain] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _references(self) -> RuleFile:
        if LOG in self.webhooks:
            raise ValueError(f"'{LOG}' is the log channel; name the webhook otherwise")
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                raise _At(("rules", index, "name"), f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
            for position, channel in enumerate(rule.notify):
                if channel != LOG and channel not in self.webhooks:
                    raise _At(
                        ("rules", index, "notify", position),
                        f"notify names {channel!r}, which is neither 'log' nor a webhook of this file",
                    )
            if rule.retrain is not None:
                if rule.retrain not in self.retrain:
                    raise _At(("rules", index, "retrain"), f"no retraining hook {rule.retrain!r} in this file")
                if not rule.figure.startswith(RETRAIN_FAMILIES):
                    raise _At(
                        ("rules", index, "retrain"),
                        "retraining hooks run for drift.* and performance.* rules only",
                    )
        for name, hook in self.retrain.items():
            if hook.webhook is not None and hook.webhook not in self.webhooks:
                raise _At(("retrain", name, "webhook"), f"no webhook {hook.webhook!r} in this file")
        return self


class _At(ValueError):
    """A refusal at a field path (so the loader can name the line)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def parse_rules(
    text: str, *, source: str = "alerts.yaml", allow_private: bool = False, check_urls: bool = True
) -> RuleFile:
    """The rule file in ``text``, validated (URLs too, unless ``check_urls`` is False: for
    showing it); ``ConfigError`` naming line and field."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: an alert rule file is at most {MAX_FILE_BYTES} bytes")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(f"{source}, line {line}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}, line 1: an alert rule file is a mapping (webhooks:, retrain:, rules:)")
    try:
        rules = RuleFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        context = first.get("ctx") or {}
        error = context.get("error")
        path = error.path if isinstance(error, _At) else tuple(first["loc"])
        message = error.message if isinstance(error, _At) else _message(first)
        raise _refusal(source, root, path, message) from None
    for name, hook in rules.webhooks.items() if check_urls else ():
        try:
            check_url(hook.url, allow_private=allow_private, resolve=True, strict_dns=False)
        except InvalidRequest as exc:
            raise _refusal(source, root, ("webhooks", name, "url"), exc.message) from None
    return rules


def load_rules(path: Path, *, allow_private: bool = False, check_urls: bool = True) -> RuleFile:
    """The rule file at ``path`` (``ConfigError`` when unreadable or invalid)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no alert rule file at {path}", hint="see docs/monitoring.md#alerts") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the alert rule file {path}: {exc}") from None
    return parse_rules(text, source=str(path), allow_private=allow_private, check_urls=check_urls)


def _message(error: Mapping[str, Any]) -> str:
    text = str(error.get("msg", "invalid"))
    return text.removeprefix("Value error, ")


def _refusal(source: str, root: yaml.Node | None, path: tuple[str | int, ...], message: str) -> ConfigError:
    line = _line(root, path)
    field = ".".join(str(p) for p in path if p != "for_") or "(top)"
    field = field.replace("for_", "for")
    where = f"{source}, line {line}" if line else source
    return ConfigError(f"{where}, field {field}: {message}", field=field, line=line)


def _line(node: yaml.Node | None, path: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the deepest node of ``path`` found in the composed YAML."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        key = "for" if part == "for_" else part
        found: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                    found = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            found = node.value[key]
            line = found.start_mark.line + 1
        if found is None:
            break
        node = found
    return line
