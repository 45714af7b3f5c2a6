"""``shipyard predict --json`` names the model in ``model`` and, with ``--url``, the server
in ``server`` (it used to print ``"model": "http://… name"``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from fidelity_registry import frame

from shipyard.cli.main import cli


def run(home: Path, *args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, list(args), env={"SHIPYARD_HOME": str(home), **(env or {})})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_json_names_model_and_server(server, fidelity_home, tmp_path: Path) -> None:
    home, models = fidelity_home
    X, _ = frame(3, seed=4)
    inputs = tmp_path / "inputs.csv"
    X.to_csv(inputs, index=False)
    expected = models["rf"].predict(X).tolist()
    remote = run(
        home,
        "predict",
        "rf",
        "--input",
        str(inputs),
        "--url",
        server.url,
        "--json",
        env={"SHIPYARD_API_KEY": server.api_key},
    )
    assert remote["model"] == "rf"
    assert remote["server"] == server.url
    assert remote["outputs"]["predict"] == expected
    pinned = run(
        home,
        "predict",
        "lr/1",
        "--input",
        str(inputs),
        "--url",
        server.url,
        "--json",
        env={"SHIPYARD_API_KEY": server.api_key},
    )
    assert pinned["model"] == "lr/1" and pinned["server"] == server.url
    local = run(home, "predict", "rf/1", "--input", str(inputs), "--json")
    assert local["model"] == "rf/1" and "server" not in local
    assert local["outputs"]["predict"] == expected
