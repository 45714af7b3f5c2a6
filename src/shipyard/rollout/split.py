"""Deterministic traffic splitting: which variant answers a request, which shadows get a copy.

No stored state. A key (a sticky key, else the request id) is hashed with BLAKE2b (8 bytes,
personalised, salted by the deployment's name) into one of 10,000 buckets (0.01% each);
each variant owns a contiguous range of buckets in spec order. So:

- the same sticky key reaches the same arm in every process, worker and restart (never
  Python's ``hash()``, which is salted per process);
- the deployment's name salts the hash, so a user is not in the first arm of every experiment;
- canaries own the low buckets and the primary the rest: raising a canary's weight only moves
  keys from the primary to it, never between canaries;
- a request with neither a sticky key nor a request id is split with ``random.random()``
  (cheap; no one can ask for the same answer twice without an id). With a request id the
  choice is reproducible: a retried request id reaches the same variant, and logs explain it;
- shadows sample with a hash of their own (another personalisation, their name in the key),
  so the requests a shadow sees are independent of the canary split and of other shadows.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from shipyard.rollout.spec import DeploymentSpec

BUCKETS = 10_000
_SPLIT_PERSON = b"shipyard-split"
_SHADOW_PERSON = b"shipyard-shadow"


def _buckets(percent: float) -> int:
    return round(float(percent) * (BUCKETS // 100))


def _key_bytes(key: bytes | str) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass")


class Splitter:
    """The split of one spec revision: build once per revision, call per request."""

    __slots__ = ("_hasher", "_ranges", "_shadow_hashers", "_shadows", "_single", "_sticky_split", "spec")

    def __init__(self, spec: DeploymentSpec) -> None:
        self.spec = spec
        salt = spec.name.encode("utf-8") + b"\x00"
        base = hashlib.blake2b(digest_size=8, person=_SPLIT_PERSON)
        base.update(salt)
        self._hasher = base
        arms = spec.arms
        # (first bucket past the variant's range, variant): canaries first, the primary last.
        ranges: list[tuple[int, str]] = []
        edge = 0
        if arms:
            names = list(arms)
            for name in names[:-1]:
                edge += _buckets(arms[name].weight or 0)
                ranges.append((edge, name))
            ranges.append((BUCKETS, names[-1]))
        else:
            for name, variant in spec.canaries.items():
                weight = _buckets(variant.weight or 0)
                if weight:
                    edge += weight
                    ranges.append((min(edge, BUCKETS), name))
            primary = spec.primary
            if primary is not None and edge < BUCKETS:
                ranges.append((BUCKETS, primary))
        self._ranges = tuple(ranges)
        self._single = ranges[0][1] if len(ranges) == 1 else None
        self._sticky_split = bool(arms)
        shadows: list[tuple[str, float, int]] = []
        hashers = []
        for name, variant in spec.shadows.items():
            rate = variant.sample_rate
            if rate <= 0:
                continue
            shadows.append((name, rate, _buckets(rate * 100)))
            shadow = hashlib.blake2b(digest_size=8, person=_SHADOW_PERSON)
            shadow.update(salt + name.encode("utf-8") + b"\x00")
            hashers.append(shadow)
        self._shadows = tuple(shadows)
        self._shadow_hashers = tuple(hashers)

    def bucket(self, key: bytes | str) -> int:
        """The key's bucket in ``[0, 10000)`` for this deployment (same in every process)."""
        h = self._hasher.copy()
        h.update(_key_bytes(key))
        return int.from_bytes(h.digest(), "big") % BUCKETS

    def choose(self, *, request_key: bytes | str | None = None, sticky: str | None = None) -> str:
        """The variant that answers: by the sticky key when there is one, else by the
        request id, else at random (see the module's docstring)."""
        single = self._single
        if single is not None:
            return single
        key = sticky if sticky is not None else request_key
        if key is not None:
            h = self._hasher.copy()
            h.update(key if isinstance(key, bytes) else key.encode("utf-8", "surrogatepass"))
            bucket = int.from_bytes(h.digest(), "big") % BUCKETS
        else:
            bucket = int(random.random() * BUCKETS)  # a traffic split, not a secret
        for edge, name in self._ranges:
            if bucket < edge:
                return name
        return self._ranges[-1][1]

    def shadows_for(self, request_key: bytes | str | None = None) -> list[str]:
        """The shadows that get a copy of this request, each by its own sample rate."""
        if not self._shadows:
            return []
        out: list[str] = []
        data = None if request_key is None else _key_bytes(request_key)
        for (name, rate, cut), hasher in zip(self._shadows, self._shadow_hashers, strict=True):
            if rate >= 1:
                out.append(name)
            elif data is None:
                if random.random() < rate:
                    out.append(name)
            else:
                h = hasher.copy()
                h.update(data)
                if int.from_bytes(h.digest(), "big") % BUCKETS < cut:
                    out.append(name)
        return out

    @property
    def weights(self) -> dict[str, float]:
        """The live split in percent, per answering variant (for status pages)."""
        out: dict[str, float] = {}
        start = 0
        for edge, name in self._ranges:
            out[name] = out.get(name, 0.0) + (edge - start) * 100 / BUCKETS
            start = edge
        return out


def sticky_key_from(spec: DeploymentSpec, headers: Mapping[str, str], inputs: Mapping[str, Any] | None) -> str | None:
    """The request's sticky key for ``spec``'s experiment, or ``None`` (no experiment, or the
    header/field is absent or empty).

    Headers are matched without regard to case. An input field gives the value of its first
    row (a batch goes to one arm, chosen by its first row); whole floats read as integers, so
    ``42`` and ``42.0`` are the same key whatever the wire format.
    """
    experiment = spec.experiment
    if experiment is None:
        return None
    source = experiment.sticky_key
    if source.header is not None:
        value = headers.get(source.header)
        if value is None:
            value = headers.get(source.header.lower())
        if value is None:
            wanted = source.header.lower()
            value = next((v for k, v in headers.items() if k.lower() == wanted), None)
        return value or None
    if inputs is None or source.field is None:
        return None
    return _scalar_key(inputs.get(source.field))


def _scalar_key(value: Any) -> str | None:
    for _ in range(8):  # nested rows / tensors: take the first element
        if hasattr(value, "tolist") and not isinstance(value, str | bytes):
            value = value.tolist()
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            if not value:
                return None
            value = value[0]
            continue
        break
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    text = str(value)
    return text or None
