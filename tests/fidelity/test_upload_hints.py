"""Registration refused over HTTP says what to put in the upload (the ``metadata`` part's
fields, the ``sample`` part), not which CLI flag to pass. Real uploads to a real server."""

from __future__ import annotations

import io
import json
import pickle

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.http.upload_hints import for_upload, is_upload


def upload(server, files: dict[str, tuple[str, bytes]]) -> httpx.Response:
    return httpx.post(server.url + "/api/models/up/versions", files=files, headers=server.auth_headers, timeout=60)


def assert_upload_words(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    hint = response.json()["hint"]
    assert "--" not in hint, hint
    for word in words:
        assert word in hint, hint
    return hint


def test_a_pickle_names_the_trust_pickle_field(server) -> None:
    buffer = io.BytesIO()
    pickle.dump(LogisticRegression(), buffer)
    response = upload(server, {"artifact": ("model.pkl", buffer.getvalue())})
    assert response.json()["code"] == "unsafe_format"
    assert_upload_words(response, 422, '"trust_pickle": true', "metadata")


def test_an_unknown_format_names_the_flavor_field(server) -> None:
    response = upload(server, {"artifact": ("model.bin", b"not a model at all")})
    assert_upload_words(response, 422, '"flavor"', "metadata")


def test_a_wrong_flavor_says_to_drop_the_field(server) -> None:
    metadata = json.dumps({"flavor": "onnx"}).encode()
    response = upload(server, {"artifact": ("model.bin", b"not onnx"), "metadata": ("metadata.json", metadata)})
    assert response.status_code in (400, 422), response.text
    assert "--" not in response.json().get("hint", "")


@pytest.mark.parametrize(
    ("cli", "upload_words"),
    [
        ("register with --trust-pickle only if you trust it", '"trust_pickle": true in the metadata part'),
        ("re-register with --trust-code only if you trust its source", '"trust_code": true in the metadata part'),
        ("name each with --trust-type TYPE (trusted_types=[...] in Python)", '"trusted_types": ["TYPE"]'),
        ("register with --trust-type a.B --trust-type c.D", '"trusted_types": ["a.B", "c.D"] in the metadata part'),
        ("pass a sample of the training inputs (--sample FILE, sample=X[:5])", "a 'sample' file part"),
        ("drop --flavor to detect the format", 'drop "flavor" from the metadata part'),
        ("name the format with --flavor (sklearn, onnx) if wrong", '"flavor" in the metadata part (sklearn, onnx)'),
    ],
    ids=["pickle", "code", "type-python", "types", "sample", "drop-flavor", "flavor"],
)
def test_every_registration_flag_has_its_upload_words(cli: str, upload_words: str) -> None:
    worded = for_upload(cli)
    assert upload_words in worded and "--" not in worded and "Python" not in worded, worded


def test_only_the_upload_route_is_reworded() -> None:
    assert is_upload("/api/models/iris/versions")
    assert not is_upload("/api/models/iris/versions/1")
    assert not is_upload("/api/models/iris")
    assert for_upload("no flags here") == "no flags here"
