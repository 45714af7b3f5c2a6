"""Registration tells which runtime serves and why: the SDK's warning and statement over
HTTP, and the stages a registration reports while it works."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io
from compile_support import Split
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from homes import open_home
from live_server import LiveServer
from shipyard.bootstrap import Services
from shipyard.registry.service import STAGES
from shipyard.sdk.client import Client
from shipyard.sdk.runtime_notice import CompileNotice


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    home = tmp_path_factory.mktemp("home")
    open_home(home).close()
    with LiveServer(Path(home), []) as live:
        yield live


def test_sdk_register_warns_when_the_native_form_serves(server: LiveServer, synthetic: Split, tmp_path: Path) -> None:
    path = tmp_path / "knn.skops"
    skops.io.dump(KNeighborsClassifier(metric="chebyshev").fit(synthetic.X_train, synthetic.y_train), path)
    with Client(server.url, api_key=server.api_key) as client, pytest.warns(CompileNotice) as caught:
        version = client.register("knn", path, sample=synthetic.X_train[:5])
    assert version["serving_runtime"] == "native"
    assert version["runtime_statement"].startswith("native (failed to convert: ")
    [warning] = caught.list
    assert str(warning.message).startswith("knn/1 will be served by the native (failed to convert: ")
    assert Path(warning.filename).name == Path(__file__).name  # points at the caller's line


def test_sdk_register_is_quiet_when_compiled(server: LiveServer, synthetic: Split, tmp_path: Path) -> None:
    path = tmp_path / "lr.skops"
    skops.io.dump(LogisticRegression(max_iter=2000).fit(synthetic.X_train, synthetic.y_train), path)
    with Client(server.url, api_key=server.api_key) as client, warnings.catch_warnings():
        warnings.simplefilter("error", CompileNotice)
        version = client.register("lr", path, sample=synthetic.X_train[:5])
    assert version["runtime_statement"] == "compiled (agrees with the native model on 5 rows)"


def test_registration_reports_its_stages(services: Services, synthetic: Split) -> None:
    model = LogisticRegression(max_iter=2000).fit(synthetic.X_train, synthetic.y_train)
    seen: list[tuple[str, int, int | None]] = []
    version = services.registry.register(
        "lr",
        model,
        sample=synthetic.X_train[:5],
        training_data=synthetic.X_train,
        stage=lambda name, done, total: seen.append((name, done, total)),
    )
    order = list(dict.fromkeys(name for name, _, _ in seen))
    assert order == list(STAGES)
    rows = len(synthetic.X_train) + 5
    assert [s for s in seen if s[0] == "verifying"][-1] == ("verifying", rows, rows)
    assert [s for s in seen if s[0] == "storing"][-1] == ("storing", version.artifact.size, version.artifact.size)


def test_without_compiling_there_is_no_compile_stage(services: Services, synthetic: Split) -> None:
    model = LogisticRegression(max_iter=2000).fit(synthetic.X_train, synthetic.y_train)
    seen: list[str] = []
    services.registry.register(
        "lr", model, sample=np.asarray(synthetic.X_train[:5]), compile=False, stage=lambda n, d, t: seen.append(n)
    )
    assert list(dict.fromkeys(seen)) == ["loading", "checking", "storing"]
