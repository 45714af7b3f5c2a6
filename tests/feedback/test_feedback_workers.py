"""Two server workers: feedback reaches whichever worker, and finds the prediction whichever
worker answered it (and logged it in its own open segment), right after the answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from live_server import LiveServer
from prediction_homes import build_home, predict


def test_feedback_finds_predictions_of_every_worker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_home(home)
    settings = {"workers": "2", "access_log": "false", "log_compact_seconds": "2"}
    with LiveServer(home, ["clf"], settings=settings) as server:
        answered = [predict(server, "clf", seed=i) for i in range(40)]
        pids = {rid[:16] for rid, _ in answered}  # a request id starts with its worker's prefix
        assert len(pids) == 2, "both workers answered"
        statuses = []
        for i, (rid, _) in enumerate(answered):
            response = httpx.post(
                f"{server.url}/feedback", json={"request_id": rid, "label": i % 2}, headers=server.auth_headers
            )
            statuses.append(response.status_code)
        assert statuses == [201] * 40
        # Right after each answer (batch mode: the record may still be on its way to disk).
        for i in range(20):
            rid, _ = predict(server, "clf", seed=100 + i)
            response = httpx.post(
                f"{server.url}/feedback", json={"request_id": rid, "value": 1.0 * i}, headers=server.auth_headers
            )
            assert response.status_code == 201, response.text
        writers = {p.name.split("-")[0] for p in (home / "predlog" / "segments").iterdir()} | {
            p.name.split("-")[0] for p in (home / "predlog" / "parquet").rglob("*.parquet")
        }
        assert len(writers) >= 2, writers
