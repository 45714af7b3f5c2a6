"""Settings: environment over shipyard.toml over defaults; every setting documented; bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.errors import ConfigError

DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_defaults_are_safe(tmp_path: Path) -> None:
    settings = Settings.load(env={"SHIPYARD_HOME": str(tmp_path)})
    assert settings.host == "127.0.0.1"
    assert settings.resolved_registry_url == f"sqlite:///{tmp_path / 'registry.db'}"
    assert settings.resolved_artifacts_url == (tmp_path / "artifacts").as_uri()


def test_environment_wins_over_toml(tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text('[shipyard]\nport = 9000\nworkers = 3\nartifacts_url = "s3://bucket/prefix"\n')
    settings = Settings.load(env={"SHIPYARD_CONFIG": str(toml), "SHIPYARD_PORT": "9100"})
    assert settings.port == 9100
    assert settings.workers == 3
    assert settings.resolved_artifacts_url == "s3://bucket/prefix"


def test_toml_in_home_is_read(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text("max_rows = 7\n")
    assert Settings.load(env={"SHIPYARD_HOME": str(tmp_path)}).max_rows == 7


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"SHIPYARD_PORT": "http"}, "port"),
        ({"SHIPYARD_PORT": "70000"}, "port"),
        ({"SHIPYARD_WORKERS": "0"}, "workers"),
        ({"SHIPYARD_MAX_ROWS": "-1"}, "max_rows"),
        ({"SHIPYARD_CONFIG": "/nonexistent/shipyard.toml"}, "SHIPYARD_CONFIG"),
    ],
    ids=["port-not-number", "port-out-of-range", "no-workers", "negative-rows", "missing-config-file"],
)
def test_bad_settings_are_refused_with_their_name(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env=env)
    assert needle in str(info.value)


def test_unknown_toml_key_refused(tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text("prot = 8080\n")
    with pytest.raises(ConfigError, match="prot"):
        Settings.load(env={"SHIPYARD_CONFIG": str(toml)})


def test_broken_toml_refused(tmp_path: Path) -> None:
    toml = tmp_path / "shipyard.toml"
    toml.write_text("port = = 1\n")
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load(env={"SHIPYARD_CONFIG": str(toml)})


@pytest.mark.parametrize("name", sorted(Settings.model_fields), ids=sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in DOCS.read_text(), f"document {name} in docs/configuration.md"
