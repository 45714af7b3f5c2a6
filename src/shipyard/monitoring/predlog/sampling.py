"""Which inferences the prediction log keeps: ``Settings.log_sample``.

``NAME=RATE`` pairs, comma-separated: ``fraud=0.1,churn=0.5,*=1``. ``NAME`` is a target (a
deployment's name when the call went through one, else the model's name); ``*`` is every
other target (default 1: all). A request is kept when a hash of its request id falls below
the rate, so the choice is deterministic: the same request id is kept or left out alike by
every worker and on every retry.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from shipyard.errors import ConfigError

_SCALE = 2**32


class Sampler:
    """Per-target sampling rates. ``keep`` is O(len(request id)): safe on the event loop."""

    def __init__(self, rates: Mapping[str, float], default: float = 1.0) -> None:
        self._thresholds = {name: _threshold(rate) for name, rate in rates.items()}
        self._default = _threshold(default)
        self.everything = self._default >= _SCALE and all(t >= _SCALE for t in self._thresholds.values())

    @classmethod
    def parse(cls, text: str) -> Sampler:
        """A sampler from the setting's text; ``ConfigError`` names the bad part."""
        rates: dict[str, float] = {}
        default = 1.0
        seen: set[str] = set()
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ConfigError(f"log_sample: {part!r} is not NAME=RATE", hint="e.g. fraud=0.1,*=1")
            try:
                rate = float(value)
            except ValueError:
                raise ConfigError(f"log_sample: the rate of {name!r} is not a number: {value.strip()!r}") from None
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"log_sample: the rate of {name!r} must be between 0 and 1, not {rate:g}")
            if name in seen:
                raise ConfigError(f"log_sample: {name!r} is given twice")
            seen.add(name)
            if name == "*":
                default = rate
            else:
                rates[name] = rate
        return cls(rates, default)

    def rate(self, target: str) -> float:
        return min(self._thresholds.get(target, self._default), _SCALE) / _SCALE

    def keep(self, target: str, request_id: str) -> bool:
        threshold = self._thresholds.get(target, self._default)
        if threshold >= _SCALE:
            return True
        if threshold <= 0:
            return False
        return zlib.crc32(request_id.encode()) < threshold


def _threshold(rate: float) -> int:
    return _SCALE if rate >= 1.0 else int(rate * _SCALE)
