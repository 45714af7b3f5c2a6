"""kill -9 in the middle of a registration and of a put: `shipyard verify` reports the
orphan blob and the stale temporaries, `shipyard gc` removes them, and what is registered
still loads. A gc running beside a registration never takes its blob."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from cli_support import Shipyard
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.fs.scratch import scratch_root
from shipyard.registry.gc import collect, find_leftovers

TESTS = Path(__file__).resolve().parent.parent

CRASH = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import numpy as np
from sklearn.linear_model import LogisticRegression
from homes import open_home

home, marker, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
svc = open_home(home)
if mode == "register":
    def block(*args, **kwargs):
        marker.write_text("blob written, row not committed")
        time.sleep(600)
    svc.store.add_version = block
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 4))
    y = (X[:, 0] > 0).astype(int)
    svc.registry.register("crashy", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
else:
    big = home.parent / "big.bin"
    big.write_bytes(os.urandom(8 << 20))
    def progress(done):
        marker.write_text("part file half written")
        time.sleep(600)
    svc.artifacts.put(big, filename="big.bin", progress=progress)
"""


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _crash(home: Path, mode: str, tmp: Path) -> None:
    """Run a registration (or a put) in a child and kill -9 it at the worst moment."""
    script = tmp / "crash.py"
    script.write_text(CRASH.format(tests=str(TESTS)))
    marker = tmp / f"marker-{mode}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    proc = subprocess.Popen([sys.executable, str(script), str(home), str(marker), mode], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, f"the child exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the child never reached the crash point"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def _json(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output + (result.stderr or "")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_kill9_leftovers_are_reported_then_collected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    X, y = _data()
    svc = open_home(home)
    try:
        good = svc.registry.register("good", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
    finally:
        svc.close()
    _crash(home, "register", tmp_path)
    _crash(home, "put", tmp_path)

    shipyard = Shipyard()
    report = _json(shipyard("--home", home, "verify", "--json"))
    assert report["failed"] == 0
    kinds = sorted(item["kind"] for item in report["leftovers"]["items"])
    assert kinds.count("orphan_blob") == 1, kinds
    assert kinds.count("store_temp") == 1, kinds
    assert any(item["kind"] == "scratch" and "/register-" in item["name"] for item in report["leftovers"]["items"])
    orphan = next(item["name"] for item in report["leftovers"]["items"] if item["kind"] == "orphan_blob")
    assert orphan != good.artifact.sha256
    text = shipyard("--home", home, "verify")
    assert "orphan blob" in text.stdout and "store temp" in text.stdout

    # Default grace (1h): a dry run keeps the young blob and .part, says what it would remove.
    dry = _json(shipyard("--home", home, "gc", "--dry-run", "--json"))
    assert dry["removed"] == 0
    kept = {item["kind"]: item["kept"] for item in dry["items"]}
    assert kept["orphan_blob"] == "grace" and kept["store_temp"] == "grace"
    assert (home / "artifacts" / "sha256" / orphan[:2] / orphan).is_file()

    done = _json(shipyard("--home", home, "gc", "--grace", "0", "--json"))
    assert done["removed"] == len(done["items"]) >= 3
    assert not (home / "artifacts" / "sha256" / orphan[:2] / orphan).exists()
    assert list((home / "artifacts" / ".tmp").glob("*.part")) == []

    after = _json(shipyard("--home", home, "verify", "--json"))
    assert after["failed"] == 0 and after["leftovers"]["items"] == []
    assert "No orphan blobs or stale temporary files." in shipyard("--home", home, "verify").stdout
    assert "Nothing to collect." in shipyard("--home", home, "gc", "--grace", "0").stdout
    svc = open_home(home)
    try:
        loaded = svc.registry.load_version(svc.registry.resolve("good"))
        assert loaded.predict_array(X[:2]) is not None
    finally:
        svc.close()


def _blocked_registration(home: Path, source: Any, **kwargs: Any) -> tuple[threading.Thread, threading.Event, Any]:
    """A registration in a thread, held after its blob is stored and before its row."""
    svc = open_home(home)
    reached, release = threading.Event(), threading.Event()
    add_version = svc.store.add_version

    def held(*args: Any, **kw: Any) -> Any:
        reached.set()
        release.wait(30)
        return add_version(*args, **kw)

    svc.store.add_version = held  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            svc.registry.register("racing", source, compile=False, **kwargs)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            svc.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert reached.wait(60), errors
    return thread, release, errors


def test_gc_during_a_registration_keeps_its_blob(tmp_path: Path) -> None:
    home = tmp_path / "home"
    X, y = _data()
    model_file = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression().fit(X, y), model_file)
    open_home(home).close()
    # The same bytes are already stored as an old orphan: the registration relies on it.
    svc = open_home(home)
    try:
        old = svc.artifacts.put(model_file, filename="model.skops")
        blob = home / "artifacts" / "sha256" / old.sha256[:2] / old.sha256
        os.utime(blob, (time.time() - 7200, time.time() - 7200))
        assert [
            i.kept for i in find_leftovers(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0).items
        ] == [None]

        thread, release, errors = _blocked_registration(home, model_file, sample=X[:3])
        try:
            result = collect(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0)
            assert [(i.kind, i.kept) for i in result.items if i.kind == "orphan_blob"] == [("orphan_blob", "lease")]
            assert blob.is_file()
        finally:
            release.set()
            thread.join(30)
        assert not errors
        version = svc.registry.resolve("racing")
        assert version.artifact.sha256 == old.sha256
        assert collect(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0).items == []
        svc.registry.load_version(version)
    finally:
        svc.close()


def test_gc_keeps_a_new_blob_of_a_running_registration(tmp_path: Path) -> None:
    home = tmp_path / "home"
    X, y = _data(3)
    open_home(home).close()
    thread, release, errors = _blocked_registration(home, LogisticRegression().fit(X, y), sample=X[:3])
    svc = open_home(home)
    try:
        found = find_leftovers(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0)
        assert [(i.kind, i.kept) for i in found.items] == [("orphan_blob", "lease")]
        collect(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0)
    finally:
        release.set()
        thread.join(30)
    try:
        assert not errors
        svc.registry.load_version(svc.registry.resolve("racing"))
    finally:
        svc.close()


@pytest.mark.usefixtures("aws_env")
def test_s3_orphans_and_unfinished_uploads(tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_client: Any) -> None:
    home = tmp_path / "home"
    X, y = _data()
    svc = open_home(home, artifacts_url=f"s3://{s3_bucket}/team", s3_endpoint_url=s3_endpoint)
    try:
        good = svc.registry.register("good", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
        orphan = svc.artifacts.put_bytes(b"left behind" * 1000, filename="x")
        upload = s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"team/sha256/ab/{'ab' * 32}")
        half_download = home / "cache" / "artifacts" / ".tmp" / "get-killed.part"
        half_download.write_bytes(b"half")
        young = find_leftovers(svc.store, svc.artifacts, scratch_root(home))
        # (moto reports every multipart upload as initiated in 2010: it is never "young" here.)
        assert sorted((i.kind, str(i.kept)) for i in young.items) == [
            ("orphan_blob", "grace"),
            ("store_temp", "None"),
            ("store_temp", "grace"),
        ]
        time.sleep(1.1)  # S3 times have one-second resolution
        result = collect(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0)
        assert sorted((i.kind, i.removed) for i in result.items) == [
            ("orphan_blob", True),
            ("store_temp", True),
            ("store_temp", True),
        ]
        assert not half_download.exists()
        assert [i.name for i in result.items if i.kind == "orphan_blob"] == [orphan.sha256]
        assert not svc.artifacts.exists(orphan.sha256)
        assert svc.artifacts.exists(good.artifact.sha256)
        uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        assert upload["UploadId"] not in [u["UploadId"] for u in uploads]
        assert find_leftovers(svc.store, svc.artifacts, scratch_root(home), grace_seconds=0).items == []
        svc.registry.load_version(svc.registry.resolve("good"))
    finally:
        svc.close()
