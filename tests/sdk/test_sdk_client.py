"""``shipyard.Client`` against a real ``python -m shipyard serve`` on a loopback port."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import shipyard
from shipyard.cli.demo_traffic import ServerProcess, free_port
from shipyard.errors import RemoteError, Unavailable


def test_ready_and_predict_v2(
    served: ServerProcess, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = wine
    with shipyard.Client(served.url) as client:
        assert client.ready()
        outputs = client.predict("wine", x.iloc[:10])
        np.testing.assert_array_equal(outputs["predict"], forest.predict(x.iloc[:10]))
        np.testing.assert_allclose(outputs["predict_proba"], forest.predict_proba(x.iloc[:10]), rtol=1e-6)
        by_version = client.predict("wine", x.iloc[:3].to_numpy(), version=1)
        np.testing.assert_array_equal(by_version["predict"], forest.predict(x.iloc[:3]))
        columns = client.predict("wine", {c: x[c].to_numpy()[:4] for c in x.columns})
        assert len(columns["predict"]) == 4


def test_management_api(
    served: ServerProcess, tmp_path: Path, forest: RandomForestClassifier, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    import skops.io

    x, _ = wine
    path = tmp_path / "upload.skops"
    skops.io.dump(forest, path)
    with shipyard.Client(served.url) as client:
        assert [m["name"] for m in client.models()] == ["wine"]
        created = client.register("wine", path, sample=x.iloc[:5], metrics={"accuracy": 0.9}, description="uploaded")
        assert created["version"] == 2
        assert created["lineage"]["metrics"] == {"accuracy": 0.9}
        assert [v["version"] for v in client.model("wine")["versions"]] == [1, 2]
        assert client.set_alias("wine", "production", 2) == {"model": "wine", "alias": "production", "version": 2}
        assert client.model("wine")["aliases"] == {"production": 2}
        target = client.download("wine", 2, tmp_path / "downloaded.skops")
        assert hashlib.sha256(target.read_bytes()).hexdigest() == created["artifact"]["sha256"]
        into_dir = client.download("wine", 2, tmp_path)
        assert into_dir.parent == tmp_path
        assert into_dir.read_bytes() == path.read_bytes()


def test_server_errors_become_remote_errors(
    served: ServerProcess, tmp_path: Path, wine: tuple[pd.DataFrame, pd.Series]
) -> None:
    x, _ = wine
    with shipyard.Client(served.url) as client:
        with pytest.raises(RemoteError) as missing:
            client.predict("wine", x.iloc[:2], version=7)
        assert missing.value.status == 404
        assert missing.value.remote_code == "version_not_found"
        with pytest.raises(RemoteError) as mismatch:
            client.predict("wine", x.iloc[:2, :3])
        assert mismatch.value.status in (400, 422)
        assert mismatch.value.remote_code == "signature_mismatch"
        junk = tmp_path / "junk.bin"
        junk.write_bytes(b"not a model at all")
        with pytest.raises(RemoteError) as unsupported:
            client.register("wine", junk)
        assert unsupported.value.remote_code == "unsupported_format"
        with pytest.raises(RemoteError) as alias:
            client.set_alias("wine", "production", 9)
        assert alias.value.status == 404


def test_unreachable_server_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with shipyard.Client(url, timeout=2.0) as client:
        assert not client.ready()
        with pytest.raises(Unavailable) as info:
            client.models()
    assert url in (info.value.hint or "")
