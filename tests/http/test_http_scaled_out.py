"""Outgrowing one machine: the same server over PostgreSQL and an S3-compatible store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer
from moto_server import AWS_ENV
from postgres_db import pg_schema_url

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


def test_register_and_serve_on_postgres_and_s3(
    tmp_path: Path, classification_data, pg_user: str, pg_database: str, s3_endpoint: str, s3_bucket: str, aws_env
) -> None:
    X, y = classification_data
    settings = {
        "registry_url": pg_schema_url(pg_user, pg_database),
        "artifacts_url": f"s3://{s3_bucket}/models",
        "s3_endpoint_url": s3_endpoint,
    }
    home = tmp_path / "home"
    model = LogisticRegression(max_iter=500).fit(X, y)
    svc = open_home(home, **settings)
    try:
        version = svc.registry.register("scaled", model, sample=X[:5], training_data=X, target=y)
        assert svc.artifacts.url.startswith("s3://")
        assert [(r.kind, r.ok) for r in svc.registry.verify()] == [("model", True), ("compiled", True)]
    finally:
        svc.close()
    assert not (home / "artifacts").exists(), "nothing is written to the local store"

    body = {"inputs": [{"name": "input-0", "shape": [3, 20], "datatype": "FP64", "data": X[:3].ravel().tolist()}]}
    with LiveServer(home, ["scaled"], settings=settings, env=AWS_ENV) as server:
        response = httpx.post(server.url + "/v2/models/scaled/infer", json=body, headers=server.auth_headers)
        assert response.status_code == 200, response.text
        predict = next(o for o in response.json()["outputs"] if o["name"] == "predict")
        assert predict["data"] == model.predict(X[:3]).tolist()
        shown = httpx.get(server.url + "/api/models/scaled/versions/1", headers=server.auth_headers).json()
        assert shown["artifact"]["sha256"] == version.artifact.sha256
