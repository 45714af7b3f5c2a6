"""A registry for the progressive-delivery tests, and a load generator.

``fraud`` versions, all on the same four float columns (one 2-D tensor ``input-0``):

1. the primary: a logistic regression;
2. a healthy canary: the same regression, a little less regularised (agrees on ~all rows);
3. a canary that raises on every call (a Python class);
4. a slow canary: right answers after 40 ms (a Python class);
5. a canary that disagrees: a constant classifier (always 1);
6. a second healthy version (for blue/green and shadows).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer
from shipyard.rollout.service import apply_spec

BROKEN_MODEL = '''
import numpy as np


class Broken:
    """Raises on every row with at most three decimals (every row the tests send), but
    answers its own registration sample (full precision), as a registry check demands."""

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        if np.all(np.round(X, 3) == X):
            raise RuntimeError("this canary is broken")
        return (X[:, 0] > 0).astype(np.int64)
'''

SLOW_MODEL = '''
import time

import numpy as np


class Slow:
    """The primary's labels (sign of the first column), 40 ms late."""

    def predict(self, X):
        time.sleep(0.04)
        X = np.asarray(X, dtype=float)
        return (X[:, 0] > 0).astype(np.int64)
'''

ROW = [0.5, -1.0, 0.25, 2.0]
FAST = {"alias_poll_seconds": "0.2", "rollout_tick_seconds": "0.2"}


def build_fraud(home: Path) -> None:
    rng = np.random.default_rng(11)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        svc.registry.register("fraud", LogisticRegression(C=1.0).fit(X, y), sample=X[:3], compile=False)
        svc.registry.register("fraud", LogisticRegression(C=0.8).fit(X, y), sample=X[:3], compile=False)
        broken = home.parent / "broken_model.py"
        broken.write_text(BROKEN_MODEL)
        svc.registry.register("fraud", broken, sample=X[:3], trust_code=True)
        slow = home.parent / "slow_model.py"
        slow.write_text(SLOW_MODEL)
        svc.registry.register("fraud", slow, sample=X[:3], trust_code=True)
        constant = DummyClassifier(strategy="constant", constant=1).fit(X, y)
        svc.registry.register("fraud", constant, sample=X[:3], compile=False)
        svc.registry.register("fraud", LogisticRegression(C=0.5).fit(X, y), sample=X[:3], compile=False)
        svc.store.set_alias("fraud", "production", 1)
    finally:
        svc.close()


def apply(home: Path, text: str, reason: str = "test") -> int:
    services = open_home(home)
    try:
        return apply_spec(services.store, text, actor="user:test", reason=reason).revision.revision
    finally:
        services.close()


def body(i: int) -> dict[str, object]:
    """A row whose first column changes sign with ``i`` (both labels show up)."""
    rng = np.random.default_rng(i)
    row = rng.normal(size=4).round(3).tolist()
    return {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}]}


class Load:
    """``threads`` clients posting to ``path`` until stopped; counts statuses and variants."""

    def __init__(
        self, server: LiveServer, path: str = "/v2/models/fraud/infer", threads: int = 4, *, fresh: bool = False
    ) -> None:
        """``fresh``: a new connection per request, so that every server worker gets some
        (kept-alive connections may all have been accepted by one worker)."""
        self.fresh = fresh
        self.server = server
        self.path = path
        self.threads = threads
        self.stop_event = threading.Event()
        self.statuses: Counter[int] = Counter()
        self.variants: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _work(self, n: int) -> None:
        i = n
        limits = httpx.Limits(max_keepalive_connections=0) if self.fresh else httpx.Limits()
        with self.server.client(timeout=30, limits=limits) as client:
            while not self.stop_event.is_set():
                try:
                    response = client.post(self.path, json=body(i), headers={"X-Request-Id": f"load-{n}-{i}"})
                    status, variant = response.status_code, response.headers.get("x-shipyard-variant", "?")
                    text = response.text[:200] if status != 200 else ""
                except httpx.HTTPError as exc:
                    status, variant, text = 0, "?", f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.statuses[status] += 1
                    self.variants[variant] += 1
                    if status != 200 and len(self.failures) < 20:
                        self.failures.append(f"{status} {variant} {text}")
                i += self.threads

    def __enter__(self) -> Load:
        self._workers = [threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for worker in self._workers:
            worker.join(timeout=60)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def wait_for(predicate: object, timeout: float = 60.0, interval: float = 0.2) -> object:
    """Poll ``predicate()`` until it returns something truthy; that value, else raise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()  # type: ignore[operator]
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s (last: {last!r})")
