"""``slo_p99_ms`` at top level and per model reaches the batching policy; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.serving.batching import BatchPolicy


def test_the_slo_comes_from_the_top_level_overridden_per_model(tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text("slo_p99_ms = 40\n\n[models.forest]\nslo_p99_ms = 12.5\n\n[models.lr]\nmax_queue = 9\n")
    settings = Settings.load(env={"SHIPYARD_CONFIG": str(toml)})
    assert BatchPolicy.from_settings(settings, "forest").slo_seconds == pytest.approx(0.0125)
    assert BatchPolicy.from_settings(settings, "lr").slo_seconds == pytest.approx(0.040)


def test_the_environment_sets_the_slo_and_none_means_the_fixed_policy() -> None:
    assert BatchPolicy.from_settings(Settings(), "any").slo_seconds is None
    settings = Settings.load(env={"SHIPYARD_SLO_P99_MS": "25"})
    assert BatchPolicy.from_settings(settings, "any").slo_seconds == pytest.approx(0.025)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("slo_p99_ms = 0\n", "slo_p99_ms"),
        ("slo_p99_ms = -5\n", "slo_p99_ms"),
        ("slo_p99_ms = 600000\n", "slo_p99_ms"),
        ('slo_p99_ms = "fast"\n', "slo_p99_ms"),
        ("[models.forest]\nslo_p99_ms = 0\n", "models.forest.slo_p99_ms"),
        ("[models.forest]\nslo_p99_ms = 70000\n", "models.forest.slo_p99_ms"),
        ("[models.forest]\nslo_p99 = 10\n", "slo_p99"),
    ],
    ids=["zero", "negative", "over-a-minute", "not-a-number", "model-zero", "model-over-a-minute", "misspelt"],
)
def test_bad_slos_are_refused(text: str, needle: str, tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        Settings.load(env={"SHIPYARD_CONFIG": str(toml)})


@pytest.mark.parametrize("value", ["0", "-1", "soon"], ids=["zero", "negative", "not-a-number"])
def test_bad_slos_from_the_environment_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="slo_p99_ms"):
        Settings.load(env={"SHIPYARD_SLO_P99_MS": value})
