"""Inputs read from and outputs written to S3, against the real S3-compatible test server (moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from batch_support import Shipyard, assert_one_line_error, mixed_frame, numeric_frame, write_parquet

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_cli(cli: Shipyard, s3_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Shipyard:
    monkeypatch.setenv("SHIPYARD_S3_ENDPOINT_URL", s3_endpoint)
    return cli


def test_s3_in_and_out_match_a_local_run(s3_cli: Shipyard, s3_client: Any, s3_bucket: str, tmp_path: Path) -> None:
    frame = mixed_frame(1200)
    frame.loc[[3, 700], "color"] = None  # two rejects
    source = write_parquet(frame, tmp_path / "in.parquet")
    s3_client.upload_file(str(source), s3_bucket, "inputs/day=1/in.parquet")
    local = s3_cli.score("mixed", "--input", source, "--output", "local.parquet", "--chunk-rows", "256")
    url = f"s3://{s3_bucket}/scores/out.parquet"
    remote = s3_cli.score(
        "mixed", "--input", f"s3://{s3_bucket}/inputs/day=1/in.parquet", "--output", url, "--chunk-rows", "256"
    )
    assert (remote["scored"], remote["rejected"]) == (local["scored"], local["rejected"]) == (1198, 2)
    assert remote["rejects"] == f"s3://{s3_bucket}/scores/out.rejects.parquet"
    out = s3_client.get_object(Bucket=s3_bucket, Key="scores/out.parquet")["Body"].read()
    rejects = s3_client.get_object(Bucket=s3_bucket, Key="scores/out.rejects.parquet")["Body"].read()
    assert out == (tmp_path / "local.parquet").read_bytes()
    assert rejects == (tmp_path / "local.rejects.parquet").read_bytes()
    # The output exists now: a second run refuses to replace it unless told to.
    again = s3_cli("score", "mixed", "--input", source, "--output", url)
    assert_one_line_error(again, 4, "exists")


def test_csv_from_s3_to_a_local_output(s3_cli: Shipyard, s3_client: Any, s3_bucket: str, tmp_path: Path) -> None:
    frame = numeric_frame(300)
    frame.loc[10, "a"] = np.nan
    s3_client.put_object(Bucket=s3_bucket, Key="in.csv", Body=frame.to_csv(index=False).encode())
    summary = s3_cli.score("lr", "--input", f"s3://{s3_bucket}/in.csv", "--output", "out.parquet")
    assert (summary["scored"], summary["rejected"]) == (299, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet", "out.rejects.parquet"]


def test_missing_s3_places_are_one_line(s3_cli: Shipyard, s3_bucket: str, tmp_path: Path) -> None:
    result = s3_cli("score", "lr", "--input", f"s3://{s3_bucket}/absent.parquet", "--output", "out.parquet")
    assert_one_line_error(result, 2, "input object not found", "absent.parquet")
    (tmp_path / "in.csv").write_text("a,b,c,d\n1,2,3,4\n")
    nobucket = s3_cli("score", "lr", "--input", "in.csv", "--output", "s3://no-such-bucket-here/out.parquet")
    assert_one_line_error(nobucket, 9, "bucket 'no-such-bucket-here' does not exist")
