"""What needs no cluster: settings → Ray Serve options, the application's arguments, which
models get a deployment, and the shared-state rule of ``--engine ray``."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner
from ray_cluster import build_home

from homes import open_home
from shipyard.cli.main import cli
from shipyard.config import Settings
from shipyard.errors import ConfigError, ShipyardError
from shipyard.ray.options import (
    DEFAULT_NUM_CPUS,
    MODEL_MAX_ONGOING,
    deployment_name,
    ingress_options,
    model_options,
)
from shipyard.ray.plan import model_names
from shipyard.registry.refs import parse_ref


def _settings(**models: dict[str, object]) -> Settings:
    return Settings.load(env={}, overrides={"models": models})


def test_a_model_without_a_table_gets_one_replica_of_one_cpu() -> None:
    options = model_options(_settings(), "iris")
    assert options.as_kwargs() == {
        "name": "model-iris",
        "num_replicas": 1,
        "ray_actor_options": {"num_cpus": DEFAULT_NUM_CPUS},
        "max_ongoing_requests": MODEL_MAX_ONGOING,
    }


def test_replica_settings_become_the_autoscaling_config() -> None:
    settings = _settings(iris={"min_replicas": 2, "max_replicas": 6, "target_ongoing_requests": 8, "num_cpus": 0.5})
    kwargs = model_options(settings, "iris").as_kwargs()
    assert kwargs["autoscaling_config"] == {
        "min_replicas": 2,
        "initial_replicas": 2,
        "max_replicas": 6,
        "target_ongoing_requests": 8,
    }
    assert kwargs["ray_actor_options"] == {"num_cpus": 0.5}
    assert "num_replicas" not in kwargs


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"min_replicas": 3}, (3, 3, 3)),
        ({"max_replicas": 4}, (1, 1, 4)),
        ({"min_replicas": 0, "max_replicas": 2}, (0, 1, 2)),
        ({"target_ongoing_requests": 5}, (1, 1, 1)),
    ],
    ids=["min-only", "max-only", "scale-to-zero", "target-only"],
)
def test_replica_bounds_fill_in(table: dict[str, object], expected: tuple[int, int, int]) -> None:
    config = model_options(_settings(iris=table), "iris").autoscaling_config
    assert config is not None
    assert (config["min_replicas"], config["initial_replicas"], config["max_replicas"]) == expected


def test_min_above_max_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="min_replicas"):
        model_options(_settings(iris={"min_replicas": 5, "max_replicas": 2}), "iris")


def test_replica_settings_are_checked_at_load() -> None:
    with pytest.raises(ConfigError):
        _settings(iris={"max_replicas": 0})


def test_deployment_names_are_safe() -> None:
    assert deployment_name("fraud-v2.1") == "model-fraud-v2.1"
    assert deployment_name("a b/c") == "model-a_b_c"


def test_ingress_needs_a_replica() -> None:
    assert ingress_options()["num_replicas"] == 1
    with pytest.raises(ConfigError):
        ingress_options(0)


def test_a_deployment_reaches_its_variants_models(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_home(home)
    services = open_home(home)
    try:
        names = model_names(services.store, [parse_ref("fraud"), parse_ref("lr@production"), parse_ref("lr/2")])
    finally:
        services.close()
    assert names == ["fraud", "lr"]


def test_application_arguments_are_checked() -> None:
    pytest.importorskip("ray.serve")
    from shipyard.ray.app import BuildArgs

    assert BuildArgs.from_args({"refs": ["iris@production"]}).refs == ("iris@production",)
    for bad in ({}, {"refs": []}, {"refs": "iris"}, {"refs": ["../x"]}, {"refs": ["iris"], "replicas": 2}):
        with pytest.raises(ShipyardError):
            BuildArgs.from_args(bad)


def test_shared_state_rule() -> None:
    pytest.importorskip("ray")
    from shipyard.ray.cluster import refuse_multi_node, single_node_note

    local = Settings.load(env={"SHIPYARD_HOME": "/tmp/x"})
    shared = Settings.load(
        env={"SHIPYARD_REGISTRY_URL": "postgresql+psycopg://u@db/shipyard", "SHIPYARD_ARTIFACTS_URL": "s3://b/p"}
    )
    assert single_node_note(local) is not None and "single-node" in (single_node_note(local) or "")
    assert single_node_note(shared) is None
    refuse_multi_node(local, address="local", nodes=1)
    refuse_multi_node(local, address="auto", nodes=1)
    refuse_multi_node(shared, address="auto", nodes=3)
    refuse_multi_node(shared, address="ray://head:10001", nodes=1)
    with pytest.raises(ConfigError, match="3 nodes"):
        refuse_multi_node(local, address="auto", nodes=3)
    with pytest.raises(ConfigError, match="PostgreSQL"):
        refuse_multi_node(local, address="ray://head:10001", nodes=1)


def test_address_without_the_ray_engine_is_refused(home: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "iris", "--address", "auto"])
    assert result.exit_code == 2
    assert "--engine ray" in result.output


def test_an_unknown_address_is_refused(home: Path) -> None:
    pytest.importorskip("ray")
    build_home(home)
    result = CliRunner().invoke(cli, ["serve", "lr@production", "--engine", "ray", "--address", "tcp://x"])
    assert result.exit_code == 2
    assert "unknown Ray address" in result.output


def test_errors_cross_from_a_replica_as_themselves() -> None:
    from shipyard.errors import Gone, ModelLoadError
    from shipyard.ray.transport import Failure

    for raised in (Gone("lr/1 is retired", hint="use lr/2", successor="lr/2"), ModelLoadError("broken")):
        carried = pickle.loads(pickle.dumps(Failure.of(raised)))
        again = carried.error()
        assert type(again) is type(raised)
        assert again.to_dict() == raised.to_dict()


def test_a_model_the_application_has_no_deployment_for_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("ray.serve")
    from shipyard.errors import ModelLoadError
    from shipyard.ray.remote import RemoteRegistry

    home = tmp_path / "home"
    build_home(home)
    services = open_home(home)
    try:
        remote = RemoteRegistry(services.registry, {}, timeout_seconds=1.0)
        with pytest.raises(ModelLoadError, match="no deployment for model 'lr'"):
            remote.load_version(services.registry.resolve("lr/1"))
    finally:
        services.close()
