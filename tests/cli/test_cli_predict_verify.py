"""``shipyard predict`` (in-process and against a server) and ``shipyard verify``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_support import ModelFiles, Shipyard
from test_cli_errors import assert_one_line_error

from shipyard.cli.demo_traffic import ServerProcess


def test_predict_locally_matches_the_model(
    shipyard: Shipyard, registered: str, model_files: ModelFiles, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.csv"
    model_files.inputs.to_csv(inputs, index=False)
    result = shipyard("predict", "iris/1", "--input", inputs, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["model"] == "iris/1"
    assert body["outputs"]["predict"] == model_files.model.predict(model_files.inputs).tolist()
    proba = np.asarray(body["outputs"]["predict_proba"])
    np.testing.assert_allclose(proba, model_files.model.predict_proba(model_files.inputs), rtol=1e-6)


def test_predict_table_and_other_input_formats(
    shipyard: Shipyard, registered: str, model_files: ModelFiles, tmp_path: Path
) -> None:
    as_json = tmp_path / "inputs.json"
    as_json.write_text(json.dumps(model_files.inputs.to_dict(orient="split") | {"index": None}))
    split = {"columns": list(model_files.inputs.columns), "data": model_files.inputs.to_numpy().tolist()}
    as_json.write_text(json.dumps(split))
    as_npy = tmp_path / "inputs.npy"
    np.save(as_npy, model_files.inputs.to_numpy())
    expected = model_files.model.predict(model_files.inputs).tolist()
    for path in (as_json, as_npy):
        body = json.loads(shipyard("predict", "iris", "--input", path, "--json").stdout)
        assert body["outputs"]["predict"] == expected, path
    table = shipyard("predict", "iris", "--input", as_json)
    assert table.exit_code == 0
    assert "predict_proba" in table.stdout


def test_predict_with_wrong_columns_is_a_signature_error(shipyard: Shipyard, registered: str, tmp_path: Path) -> None:
    inputs = tmp_path / "wrong.csv"
    inputs.write_text("a,b\n1,2\n")
    assert_one_line_error(shipyard("predict", "iris", "--input", inputs), 2)


def test_verify_passes_then_finds_tampering(shipyard: Shipyard, registered: str, home: Path) -> None:
    ok = shipyard("verify")
    assert ok.exit_code == 0, ok.output
    report = json.loads(shipyard("verify", "--json").stdout)
    assert report["failed"] == 0
    assert sorted(r["kind"] for r in report["results"]) == ["compiled", "model"]
    assert f"All {report['checked']} artifacts match" in ok.stdout
    model_sha = next(r["artifact"]["sha256"] for r in report["results"] if r["kind"] == "model")
    [blob] = [p for p in (home / "artifacts" / "sha256").rglob(model_sha) if p.is_file()]
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    bad = shipyard("verify")
    assert_one_line_error(bad, 6, f"1 of {report['checked']} artifacts failed")
    assert "FAILED" in bad.stdout
    report = json.loads(shipyard("verify", "--json").stdout)
    assert report["failed"] == 1
    assert report["results"][0]["ok"] is False


def test_predict_through_a_server(
    shipyard: Shipyard, server: ServerProcess, model_files: ModelFiles, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.csv"
    model_files.inputs.to_csv(inputs, index=False)
    result = shipyard("predict", "iris", "--input", inputs, "--url", server.url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["predict"] == model_files.model.predict(model_files.inputs).tolist()
    missing = shipyard("predict", "iris/5", "--input", inputs, "--url", server.url)
    assert missing.exit_code == 3, missing.stderr
    assert missing.stderr.startswith("error: ")


def test_predict_against_nothing_listening(shipyard: Shipyard, tmp_path: Path, model_files: ModelFiles) -> None:
    inputs = tmp_path / "inputs.csv"
    model_files.inputs.to_csv(inputs, index=False)
    result = shipyard("predict", "iris", "--input", inputs, "--url", "http://127.0.0.1:9")
    assert_one_line_error(result, 8, "127.0.0.1:9")
