"""Batchers live and die with their served versions: an alias swap drains the old one on
the old version; settings reach each model's batcher, including ``[models.NAME]`` tables."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from serving_support import assert_unbatched, call, serving
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.serving.batching import BatchPolicy
from shipyard.serving.dataplane import InferenceResult


def test_alias_swap_drains_the_old_batcher_on_the_old_version(
    tmp_path: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression(max_iter=1000).fit(X, y), sample=X[:5])
        svc.registry.register("lr", LogisticRegression(max_iter=1000, C=0.001).fit(X, 1 - y), sample=X[:5])
        svc.store.set_alias("lr", "production", 1)
    finally:
        svc.close()

    async def run() -> None:
        async with serving(home, ["lr@production"]) as (dataplane, recorder):
            old = dataplane.resolve("lr")
            before = [
                asyncio.create_task(dataplane.infer(call("lr", X[i : i + 1], request_id=f"a{i}"))) for i in range(200)
            ]
            await asyncio.sleep(0)  # all resolved version 1 and are queued or running
            mover = open_home(home)
            try:
                mover.store.set_alias("lr", "production", 2)
            finally:
                mover.close()
            await dataplane.manager.refresh()
            new = dataplane.resolve("lr")
            assert new.version == 2 and new.batcher is not old.batcher
            after = await asyncio.gather(
                *(dataplane.infer(call("lr", X[i : i + 1], request_id=f"b{i}")) for i in range(50))
            )
            drained = await asyncio.gather(*before)
            assert {r.served.version for r in drained} == {1}
            assert {r.served.version for r in after} == {2}
            for result in (*drained, *after):
                assert_unbatched(result)
            await asyncio.sleep(0.01)
            assert not old.batcher.active and old.batcher.waiting == 0
            # A request that resolved the old version just before the swap still runs there.
            late = await dataplane.infer(replace(call("lr", X[:2], request_id="late"), served=old))
            assert isinstance(late, InferenceResult) and late.served.version == 1
            assert_unbatched(late)
            assert not recorder.failures

    asyncio.run(run())


def test_policy_comes_from_settings_with_per_model_overrides() -> None:
    settings = Settings(
        batching=True,
        max_batch_rows=128,
        max_batch_wait_ms=4,
        max_queue=64,
        inference_threads=3,
        models={"iris": {"max_batch_rows": 16, "batching": False}, "churn": {"max_queue": 8}},
    )
    assert BatchPolicy.from_settings(settings, "iris") == BatchPolicy(
        batching=False, max_batch_rows=16, max_wait_seconds=0.004, max_queue=64, concurrency=3
    )
    assert BatchPolicy.from_settings(settings, "churn").max_queue == 8
    assert BatchPolicy.from_settings(settings, "other") == BatchPolicy(
        batching=True, max_batch_rows=128, max_wait_seconds=0.004, max_queue=64, concurrency=3
    )


@pytest.mark.parametrize("section", ["", "[shipyard]\nmax_batch_rows = 100\n"], ids=["top-level", "shipyard-table"])
def test_models_tables_are_read_from_toml(section: str, tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text(
        f"{section}\n[models.iris]\nmax_batch_rows = 64\nbatching = false\n\n[models.churn]\nmax-queue = 10\n"
    )
    settings = Settings.load(env={"SHIPYARD_CONFIG": str(toml), "SHIPYARD_MAX_QUEUE": "99"})
    assert settings.models["iris"].max_batch_rows == 64 and settings.models["iris"].batching is False
    assert settings.models["churn"].max_queue == 10
    assert BatchPolicy.from_settings(settings, "churn").max_queue == 10
    assert BatchPolicy.from_settings(settings, "iris").max_queue == 99
    if section:
        assert settings.max_batch_rows == 100


def test_models_table_inside_shipyard_table(tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text("[shipyard]\nport = 9000\n\n[shipyard.models.iris]\nmax_batch_wait_ms = 1.5\n")
    settings = Settings.load(env={"SHIPYARD_CONFIG": str(toml)})
    assert settings.port == 9000 and settings.models["iris"].max_batch_wait_ms == 1.5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[models.iris]\nmax_batch_rows = 0\n", "models.iris.max_batch_rows"),
        ("[models.iris]\nmax_batch_rowz = 5\n", "max_batch_rowz"),
        ("[models]\niris = 5\n", "one table per model"),
    ],
    ids=["out-of-range", "unknown-key", "not-a-table"],
)
def test_bad_model_tables_are_refused(text: str, needle: str, tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        Settings.load(env={"SHIPYARD_CONFIG": str(toml)})
