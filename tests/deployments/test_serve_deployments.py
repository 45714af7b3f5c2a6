"""``shipyard serve DEPLOYMENT``: a real server answers a deployment's name with its split.

The registry: ``fraud`` v1 and v3 are logistic regressions, v2 is a constant classifier
(always 1), so the variant that answered shows in the outputs as well as in the headers;
``ranker`` v1/v2 are the arms of experiments. Every variant has the same four columns.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer, create_key
from shipyard.rollout.service import apply_spec

FRAUD = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 10}
  shadowed: {model: fraud/3, role: shadow, sample: 1.0}
"""

RANKER = """\
deployment: ranker-ab
variants:
  a: {model: ranker/1, role: arm, weight: 50}
  b: {model: ranker/2, role: arm, weight: 50}
experiment: {sticky_key: {header: X-User-Id}, metric: conversion, min_detectable_effect: 0.02, alpha: 0.05, power: 0.8}
"""

RANKER_BY_FIELD = """\
deployment: ranker-field
variants:
  a: {model: ranker/1, role: arm, weight: 30}
  b: {model: ranker/2, role: arm, weight: 70}
experiment: {sticky_key: {field: x0}, metric: conversion, min_detectable_effect: 0.02, alpha: 0.05, power: 0.8}
"""

ROW = [0.5, -1.0, 0.25, 2.0]
FAST = {"alias_poll_seconds": "0.2"}


def v2_body(row: list[float] = ROW) -> dict[str, object]:
    return {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}]}


def apply(home: Path, text: str, reason: str = "test") -> int:
    services = open_home(home)
    try:
        return apply_spec(services.store, text, actor="user:test", reason=reason).revision.revision
    finally:
        services.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        svc.registry.register("fraud", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
        constant = DummyClassifier(strategy="constant", constant=1).fit(X, y)
        svc.registry.register("fraud", constant, sample=X[:3], compile=False)
        svc.registry.register("fraud", LogisticRegression(C=0.1).fit(X, y), sample=X[:3], compile=False)
        svc.store.set_alias("fraud", "production", 1)
        svc.registry.register("ranker", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
        svc.registry.register("ranker", LogisticRegression(C=0.3).fit(X, y), sample=X[:3], compile=False)
    finally:
        svc.close()
    apply(home, FRAUD)
    apply(home, RANKER)
    apply(home, RANKER_BY_FIELD)
    return home


@pytest.fixture
def fraud_server(home: Path) -> Iterator[LiveServer]:
    with LiveServer(home, ["fraud", "ranker-ab", "ranker-field"], settings=FAST) as server:
        yield server


def _count_variants(server: LiveServer, total: int, threads: int = 4) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    problems: list[str] = []
    lock = threading.Lock()

    def work(start: int) -> None:
        local: Counter[str] = Counter()
        with server.client(timeout=30) as client:
            for i in range(start, total, threads):
                response = client.post("/v2/models/fraud/infer", json=v2_body(), headers={"X-Request-Id": f"r-{i}"})
                variant = response.headers.get("x-shipyard-variant", "?")
                local[variant] += 1
                version = response.headers.get("x-shipyard-model-version")
                label = response.json()["outputs"][0]["data"][0] if response.status_code == 200 else None
                expected = {"candidate": ("2", 1), "stable": ("1", label)}.get(variant)
                if response.status_code != 200 or expected is None or (version, label) != expected:
                    with lock:
                        problems.append(f"{response.status_code} {variant} {version} {label}")
        with lock:
            counts.update(local)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    return counts, problems


def test_a_ten_percent_canary_gets_ten_percent_of_the_requests(fraud_server: LiveServer) -> None:
    started = time.perf_counter()
    counts, problems = _count_variants(fraud_server, 10_000)
    elapsed = time.perf_counter() - started
    assert not problems, problems[:5]
    assert sum(counts.values()) == 10_000
    assert set(counts) == {"stable", "candidate"}, counts  # the shadow never answers
    assert 900 <= counts["candidate"] <= 1100, counts
    print(f"10,000 requests in {elapsed:.1f}s: {dict(counts)}")


def test_every_protocol_says_which_variant_answered(fraud_server: LiveServer) -> None:
    with fraud_server.client(timeout=30) as client:
        seen: dict[str, set[str]] = {"v2": set(), "v1": set(), "mlflow": set()}
        for i in range(60):
            headers = {"X-Request-Id": f"p-{i}"}
            v2 = client.post("/v2/models/fraud/infer", json=v2_body(), headers=headers)
            v1 = client.post("/v1/models/fraud:predict", json={"instances": [ROW]}, headers=headers)
            mlflow = client.post("/models/fraud/invocations", json={"inputs": [ROW]}, headers=headers)
            for protocol, response in (("v2", v2), ("v1", v1), ("mlflow", mlflow)):
                assert response.status_code == 200, (protocol, response.text)
                variant = response.headers["x-shipyard-variant"]
                assert response.headers["x-shipyard-model-version"] == {"stable": "1", "candidate": "2"}[variant]
                seen[protocol].add(variant)
            # The same request id reaches the same variant whatever the protocol.
            assert v2.headers["x-shipyard-variant"] == v1.headers["x-shipyard-variant"]
            assert v2.headers["x-shipyard-variant"] == mlflow.headers["x-shipyard-variant"]
            parameters = v2.json()["parameters"]
            assert parameters["variant"] == v2.headers["x-shipyard-variant"]
            assert parameters["deployment"] == "fraud" and parameters["revision"] == 1
            assert v2.json()["model_name"] == "fraud"
        assert all(variants == {"stable", "candidate"} for variants in seen.values()), seen
        # The metadata of a deployment's name describes its primary.
        metadata = client.get("/v2/models/fraud")
        assert metadata.status_code == 200, metadata.text
        assert [i["name"] for i in metadata.json()["inputs"]] == ["x0", "x1", "x2", "x3"]
        assert client.get("/v2/models/fraud/ready").status_code == 200
        assert "fraud" in client.get("/v1/models").json()["models"]


def test_a_versioned_route_reaches_exactly_that_version(fraud_server: LiveServer) -> None:
    with fraud_server.client(timeout=30) as client:
        for version in ("1", "2", "3"):
            for i in range(10):
                response = client.post(
                    f"/v2/models/fraud/versions/{version}/infer", json=v2_body(), headers={"X-Request-Id": f"v-{i}"}
                )
                assert response.status_code == 200, response.text
                assert response.headers["x-shipyard-model-version"] == version
                assert "x-shipyard-variant" not in response.headers
                assert "parameters" not in response.json()
        assert client.post("/v2/models/fraud/versions/9/infer", json=v2_body()).status_code == 404


def test_a_deployment_named_like_a_model_answers_in_its_place(home: Path) -> None:
    # Served as a plain model, ``fraud`` is its latest version (3); as a deployment, its split.
    with LiveServer(home, ["fraud/3"]) as plain, plain.client(timeout=30) as client:
        response = client.post("/v2/models/fraud/infer", json=v2_body())
        assert response.headers["x-shipyard-model-version"] == "3"
        assert "x-shipyard-variant" not in response.headers
    with LiveServer(home, ["fraud", "ranker-ab"]) as server, server.client(timeout=30) as client:
        variants = Counter(
            client.post("/v2/models/fraud/infer", json=v2_body()).headers["x-shipyard-variant"] for _ in range(100)
        )
        assert set(variants) <= {"stable", "candidate"} and variants["stable"] > 50, variants
        # A deployment's variants are not served under their own model's name.
        assert client.post("/v2/models/ranker/infer", json=v2_body()).status_code == 404
        assert sorted(client.get("/v1/models").json()["models"]) == ["fraud", "ranker-ab"]


def _arms(server: LiveServer, users: range) -> dict[str, str]:
    out: dict[str, str] = {}
    with server.client(timeout=30) as client:
        for user in users:
            response = client.post("/v2/models/ranker-ab/infer", json=v2_body(), headers={"X-User-Id": f"u{user}"})
            assert response.status_code == 200, response.text
            out[f"u{user}"] = response.headers["x-shipyard-variant"]
    return out


def test_the_same_sticky_key_reaches_the_same_arm_across_restarts_and_workers(home: Path) -> None:
    users = range(300)
    with LiveServer(home, ["ranker-ab"]) as server:
        first = _arms(server, users)
        again = _arms(server, users)
    assert first == again
    assert 100 < Counter(first.values())["a"] < 200, Counter(first.values())
    with LiveServer(home, ["ranker-ab"], settings={"workers": "2"}) as server:
        after_restart = _arms(server, users)
        # Different connections land on either worker; all agree.
        after_restart_again = {}
        for user in users:
            with server.client(timeout=30) as client:
                response = client.post("/v2/models/ranker-ab/infer", json=v2_body(), headers={"X-User-Id": f"u{user}"})
                after_restart_again[f"u{user}"] = response.headers["x-shipyard-variant"]
    assert after_restart == first
    assert after_restart_again == first


def test_a_sticky_input_field_picks_the_arm_by_the_first_row(fraud_server: LiveServer) -> None:
    with fraud_server.client(timeout=30) as client:
        by_key: dict[int, str] = {}
        for key in range(60):
            row = [float(key), 0.0, 0.0, 0.0]
            for i in range(3):  # different request ids, same key: same arm
                v2 = client.post("/v2/models/ranker-field/infer", json=v2_body(row), headers={"X-Request-Id": f"{i}"})
                assert v2.status_code == 200, v2.text
                arm = v2.headers["x-shipyard-variant"]
                assert by_key.setdefault(key, arm) == arm
                assert v2.headers["x-shipyard-model-version"] == {"a": "1", "b": "2"}[arm]
            # The same key in another protocol (an integer, not a float) reaches the same arm.
            v1 = client.post("/v1/models/ranker-field:predict", json={"instances": [[key, 0, 0, 0]]})
            assert v1.headers["x-shipyard-variant"] == by_key[key]
        assert set(by_key.values()) == {"a", "b"}


def _load(server: LiveServer, stop: threading.Event, results: list[tuple[int, str, str]]) -> None:
    with server.client(timeout=30) as client:
        while not stop.is_set():
            try:
                response = client.post("/v2/models/fraud/infer", json=v2_body())
                results.append(
                    (
                        response.status_code,
                        response.headers.get("x-shipyard-variant", ""),
                        response.headers.get("x-shipyard-model-version", ""),
                    )
                )
            except httpx.HTTPError as exc:
                results.append((0, type(exc).__name__, ""))


def test_a_new_revision_is_picked_up_under_load_without_failures(home: Path) -> None:
    with LiveServer(home, ["fraud"], settings=FAST) as server:
        stop = threading.Event()
        results: list[tuple[int, str, str]] = []
        threads = [threading.Thread(target=_load, args=(server, stop, results)) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            # Revision 2: the canary is another model version (loaded before the swap) at 60%.
            revision = apply(
                home, FRAUD.replace("fraud/2, role: canary, weight: 10", "fraud/3, role: canary, weight: 60")
            )
            assert revision == 2
            applied_at = time.monotonic()
            mark = len(results)
            while time.monotonic() - applied_at < 10 and not any(v == "3" for _, _, v in results[mark:]):
                time.sleep(0.02)
            picked_up = time.monotonic() - applied_at
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    statuses = Counter(status for status, _, _ in results)
    assert statuses == Counter({200: len(results)}), statuses
    assert picked_up < 2.0, picked_up  # a couple of poll intervals and a model load
    first_new = next(i for i, (_, _, v) in enumerate(results) if v == "3")
    # After the swap (allowing for requests already in flight), version 2 never answers again.
    tail = results[first_new + 20 :]
    assert tail and all(v in {"1", "3"} for _, _, v in tail)
    shares = Counter(variant for _, variant, _ in tail)
    assert 0.45 < shares["candidate"] / len(tail) < 0.75, shares
    assert "deployment fraud now serves revision 2" in server.log_path.read_text(errors="replace")


def test_a_move_through_the_api_reaches_every_worker_before_it_returns(home: Path) -> None:
    # Two workers polling only every 30 s: only the workers' own acknowledgement can explain
    # that no request after the PUT still reaches the old canary (fraud/2 at 10%).
    settings = {"workers": "2", "alias_poll_seconds": "30"}
    with LiveServer(home, ["fraud"], settings=settings) as server, server.client(timeout=30) as client:
        spec = FRAUD.replace("fraud/2, role: canary, weight: 10", "fraud/3, role: canary, weight: 60")
        put = client.put("/api/deployments/fraud", json={"spec": spec, "reason": "v3 instead of v2"})
        assert put.status_code == 200, put.text
        versions: Counter[str] = Counter()
        for i in range(120):
            # A new connection each time, so that both workers take requests.
            response = httpx.post(
                server.url + "/v2/models/fraud/infer",
                json=v2_body(),
                headers={**server.auth_headers, "X-Request-Id": f"after-{i}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            versions[response.headers["x-shipyard-model-version"]] += 1
    assert versions["2"] == 0, versions
    assert versions["3"] > 30, versions


def test_a_key_needs_the_scope_on_the_deployment_name(home: Path) -> None:
    with LiveServer(home, ["fraud", "ranker-ab"]) as server:
        on_ranker = create_key(home, "predictor", ["ranker"])
        on_deployment = create_key(home, "predictor", ["ranker-ab"])
        url = server.url + "/v2/models/ranker-ab/infer"
        assert httpx.post(url, json=v2_body(), headers={"Authorization": f"Bearer {on_ranker}"}).status_code == 403
        allowed = httpx.post(url, json=v2_body(), headers={"Authorization": f"Bearer {on_deployment}"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["x-shipyard-variant"] in {"a", "b"}


def test_a_variant_follows_its_alias(home: Path) -> None:
    with LiveServer(home, ["fraud"], settings=FAST) as server, server.client(timeout=30) as client:
        ids = [f"a-{i}" for i in range(40)]
        stable = [
            i
            for i in ids
            if client.post("/v2/models/fraud/infer", json=v2_body(), headers={"X-Request-Id": i}).headers[
                "x-shipyard-variant"
            ]
            == "stable"
        ]
        moved = client.put("/api/models/fraud/aliases/production", json={"version": 3})
        assert moved.status_code == 200, moved.text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = client.post("/v2/models/fraud/infer", json=v2_body(), headers={"X-Request-Id": stable[0]})
            if response.headers["x-shipyard-model-version"] == "3":
                break
            time.sleep(0.05)
        for request_id in stable:
            response = client.post("/v2/models/fraud/infer", json=v2_body(), headers={"X-Request-Id": request_id})
            assert response.headers["x-shipyard-variant"] == "stable"
            assert response.headers["x-shipyard-model-version"] == "3"


def test_a_revision_that_cannot_load_leaves_the_previous_one_serving(home: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    svc = open_home(home)
    try:
        v4 = svc.registry.register("fraud", LogisticRegression().fit(X, X[:, 0] > 0), sample=X[:3], compile=False)
    finally:
        svc.close()
    with LiveServer(home, ["fraud"], settings=FAST) as server, server.client(timeout=30) as client:
        blob = next(home.rglob(v4.artifact.sha256))
        blob.chmod(0o644)
        blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
        apply(home, FRAUD.replace("fraud/2, role: canary, weight: 10", "fraud/4, role: canary, weight: 90"))
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and "revision 2 of deployment fraud failed to load" not in server.log_path.read_text()
        ):
            time.sleep(0.1)
        assert "revision 2 of deployment fraud failed to load" in server.log_path.read_text()
        for i in range(30):
            response = client.post("/v2/models/fraud/infer", json=v2_body(), headers={"X-Request-Id": f"f-{i}"})
            assert response.status_code == 200
            assert response.json()["parameters"]["revision"] == 1
            assert response.headers["x-shipyard-model-version"] in {"1", "2"}


def test_serve_checks_a_deployment_by_its_variants(home: Path) -> None:
    from shipyard.cli.serve import _served_refs
    from shipyard.registry.refs import parse_ref

    services = open_home(home)
    try:
        assert [str(r) for r in _served_refs(services, parse_ref("fraud"))] == [
            "fraud@production",
            "fraud/2",
            "fraud/3",
        ]
        assert [str(r) for r in _served_refs(services, parse_ref("fraud/2"))] == ["fraud/2"]
        assert [str(r) for r in _served_refs(services, parse_ref("ranker"))] == ["ranker"]
    finally:
        services.close()
