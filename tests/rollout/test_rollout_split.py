"""Deterministic splits: weights within 1% over 10,000 keys, stickiness across processes."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from shipyard.rollout import Splitter, parse_spec, sticky_key_from

CANARY = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/4, role: canary, weight: 10}
  shadowed: {model: fraud/5, role: shadow, sample: 1.0}
  sampled: {model: fraud/6, role: shadow, sample: 0.25}
  off: {model: fraud/7, role: shadow, sample: 0}
"""

EXPERIMENT = """\
deployment: ranker
variants:
  a: {model: ranker/1, role: arm, weight: 20}
  b: {model: ranker/2, role: arm, weight: 30}
  c: {model: ranker/3, role: arm, weight: 50}
experiment: {sticky_key: {header: X-User-Id}, metric: conversion, min_detectable_effect: 0.02}
"""

N = 10_000


def request_ids(n: int = N) -> list[str]:
    return [str(uuid.UUID(int=i * 7919 + 13, version=4)) for i in range(n)]


def test_a_10_percent_canary_gets_10_percent_by_request_id() -> None:
    splitter = Splitter(parse_spec(CANARY))
    counts = Counter(splitter.choose(request_key=rid, sticky=None) for rid in request_ids())
    assert set(counts) == {"stable", "candidate"}
    assert abs(counts["candidate"] / N - 0.10) <= 0.01
    assert splitter.weights == {"candidate": 10.0, "stable": 90.0}


def test_a_10_percent_canary_gets_10_percent_at_random() -> None:
    splitter = Splitter(parse_spec(CANARY))
    counts = Counter(splitter.choose(request_key=None, sticky=None) for _ in range(N))
    assert abs(counts["candidate"] / N - 0.10) <= 0.01


def test_the_same_request_id_gets_the_same_variant() -> None:
    one, two = Splitter(parse_spec(CANARY)), Splitter(parse_spec(CANARY))
    ids = request_ids(2000)
    assert [one.choose(request_key=r) for r in ids] == [two.choose(request_key=r.encode()) for r in ids]


def test_arm_weights_are_respected_within_1_percent() -> None:
    splitter = Splitter(parse_spec(EXPERIMENT))
    counts = Counter(splitter.choose(request_key=None, sticky=f"user-{i}") for i in range(N))
    for arm, share in {"a": 0.2, "b": 0.3, "c": 0.5}.items():
        assert abs(counts[arm] / N - share) <= 0.01, counts


def test_the_sticky_key_wins_over_the_request_id() -> None:
    splitter = Splitter(parse_spec(EXPERIMENT))
    arms = {splitter.choose(request_key=rid, sticky="user-42") for rid in request_ids(200)}
    assert len(arms) == 1


def test_the_same_sticky_key_reaches_the_same_arm_in_fresh_splitters() -> None:
    keys = [f"user-{i}" for i in range(N)]
    first = [Splitter(parse_spec(EXPERIMENT)).choose(request_key=None, sticky=k) for k in keys[:100]]
    one, two = Splitter(parse_spec(EXPERIMENT)), Splitter(parse_spec(EXPERIMENT))
    a = [one.choose(request_key=None, sticky=k) for k in keys]
    b = [two.choose(request_key=str(i), sticky=k) for i, k in enumerate(keys)]
    assert a == b
    assert a[:100] == first


CHILD = """
import sys
from shipyard.rollout import Splitter, parse_spec
spec = parse_spec(sys.stdin.read())
s = Splitter(spec)
print("".join(s.choose(request_key=None, sticky=f"user-{i}") for i in range(10000)))
"""


def test_the_same_sticky_key_reaches_the_same_arm_in_another_process() -> None:
    here = "".join(Splitter(parse_spec(EXPERIMENT)).choose(request_key=None, sticky=f"user-{i}") for i in range(N))
    results = []
    for seed in ("1", "2"):  # different hash() salts: Python's hash() must play no part
        child = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=EXPERIMENT,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            timeout=60,
        )
        results.append(child.stdout.strip())
    assert results == [here, here]


def test_the_split_is_salted_by_the_deployment_name() -> None:
    one = Splitter(parse_spec(EXPERIMENT))
    other = Splitter(parse_spec(EXPERIMENT.replace("deployment: ranker", "deployment: ranker2")))
    keys = [f"user-{i}" for i in range(2000)]
    same = sum(one.choose(sticky=k) == other.choose(sticky=k) for k in keys)
    assert same < 0.6 * len(keys)  # independent: about 0.2² + 0.3² + 0.5² = 38% agree


def test_a_known_bucket_never_changes() -> None:
    # Pinned: a change of the hashing would move every user of every running experiment.
    splitter = Splitter(parse_spec(EXPERIMENT))
    assert [splitter.bucket(f"user-{i}") for i in range(3)] == PINNED


PINNED = [8438, 8376, 6637]


def test_shadow_sample_rates() -> None:
    splitter = Splitter(parse_spec(CANARY))
    ids = request_ids()
    counts = Counter(name for rid in ids for name in splitter.shadows_for(rid))
    assert counts["shadowed"] == N
    assert "off" not in counts
    assert abs(counts["sampled"] / N - 0.25) <= 0.015
    assert splitter.shadows_for(ids[0]) == Splitter(parse_spec(CANARY)).shadows_for(ids[0])
    random_counts = Counter(name for _ in range(N) for name in splitter.shadows_for(None))
    assert random_counts["shadowed"] == N and abs(random_counts["sampled"] / N - 0.25) <= 0.015
    # The shadow sample is independent of the canary split.
    in_canary = [rid for rid in ids if splitter.choose(request_key=rid) == "candidate"]
    sampled = sum("sampled" in splitter.shadows_for(rid) for rid in in_canary)
    assert abs(sampled / len(in_canary) - 0.25) <= 0.06


def test_single_variant_and_full_canary() -> None:
    only = Splitter(parse_spec("deployment: m\nvariants:\n  main: {model: m, role: primary}\n"))
    assert only.choose(request_key="x") == "main" and only.shadows_for("x") == []
    full = Splitter(
        parse_spec(
            "deployment: m\nvariants:\n"
            "  main: {model: m/1, role: primary}\n  new: {model: m/2, role: canary, weight: 100}\n"
        )
    )
    assert {full.choose(request_key=str(i)) for i in range(500)} == {"new"}
    assert full.weights == {"new": 100.0}


def test_sticky_key_from_headers_and_fields() -> None:
    spec = parse_spec(EXPERIMENT)
    assert sticky_key_from(spec, {"X-User-Id": "u1"}, None) == "u1"
    assert sticky_key_from(spec, {"x-user-id": "u2"}, None) == "u2"
    assert sticky_key_from(spec, {"X-USER-ID": "u3"}, None) == "u3"
    assert sticky_key_from(spec, {"X-User-Id": ""}, None) is None
    assert sticky_key_from(spec, {}, {"X-User-Id": "x"}) is None
    by_field = parse_spec(EXPERIMENT.replace("{header: X-User-Id}", "{field: user}"))
    assert sticky_key_from(by_field, {"user": "h"}, {"user": ["u9", "u10"]}) == "u9"
    assert sticky_key_from(by_field, {}, {"user": [42.0]}) == sticky_key_from(by_field, {}, {"user": [42]}) == "42"
    np = pytest.importorskip("numpy")
    assert sticky_key_from(by_field, {}, {"user": np.array([[7], [8]])}) == "7"
    assert sticky_key_from(by_field, {}, {"user": []}) is None
    assert sticky_key_from(by_field, {}, {"other": [1]}) is None
    assert sticky_key_from(by_field, {}, None) is None
    assert sticky_key_from(parse_spec(CANARY), {"X-User-Id": "u1"}, None) is None


def test_cost_per_call() -> None:
    """Not a timing assertion (those flake): a generous bound that only catches a blunder."""
    splitter = Splitter(parse_spec(CANARY))
    ids = request_ids(20_000)
    start = time.perf_counter()
    for rid in ids:
        splitter.choose(request_key=rid, sticky=None)
    per_call = (time.perf_counter() - start) / len(ids)
    assert per_call < 50e-6
