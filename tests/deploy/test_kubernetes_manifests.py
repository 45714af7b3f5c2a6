"""deploy/kubernetes: every object validates against the Kubernetes schemas (kubernetes-validate
bundles them: no network), the RayService against a schema of its own, and the manifests agree
with Shipyard itself: the settings are real ``Settings`` fields with valid values, the probes
are open health routes, the grace period covers the server's drain and graceful timeouts.

Each check returns its problems, and runs on a broken copy too (``test_*_notices``): a check
that could not fail would prove nothing.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_files import (
    KUBERNETES,
    KUSTOMIZATION,
    SECRET_EXAMPLE,
    PodSpec,
    env_value,
    find,
    kustomizations,
    load_documents,
    pod_specs,
    read_dockerfile,
    relative,
    resource_files,
    resources,
    writable_mounts,
)

from shipyard.config import ENV_PREFIX, Settings
from shipyard.http.app import check_bind, is_loopback
from shipyard.http.route_spec import OPEN
from shipyard.http.routes import ROUTES
from shipyard.http.server import STOP_MARGIN_SECONDS
from shipyard.registry.refs import parse_ref

# The oldest Kubernetes the manifests claim to work on (autoscaling/v2 and policy/v1 are GA,
# Pod Security admission is on) and the newest whose schemas kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
CRD_GROUPS = ("ray.io/",)
LIVE, READY = "/v2/health/live", "/v2/health/ready"
SERVER = "shipyard"
"""Name of the Deployment, its container, the Service, the PDB and the HPA."""


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return find("Deployment", SERVER)


@pytest.fixture(scope="module")
def configmap() -> dict[str, Any]:
    return find("ConfigMap", "shipyard-config")


@pytest.fixture(scope="module")
def secret() -> dict[str, Any]:
    [doc] = load_documents(SECRET_EXAMPLE)
    return doc


@pytest.fixture
def settings(
    configmap: dict[str, Any], secret: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings as a pod reads them: the ConfigMap and the Secret's SHIPYARD_* values as its
    environment (the working directory is empty, so no shipyard.toml joins in)."""
    monkeypatch.chdir(tmp_path)
    return settings_from(configmap, secret)


def settings_from(configmap: dict[str, Any], secret: dict[str, Any]) -> Settings:
    env = {k: str(v) for k, v in configmap["data"].items()}
    env.update({k: str(v) for k, v in secret["stringData"].items() if k.startswith(ENV_PREFIX)})
    return Settings.load(env=env)


def server_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == SERVER]
    return container


# -- schemas ----------------------------------------------------------------------------------


def _schema_cases() -> list[Any]:
    cases = []
    for path, doc in resources():
        if doc["apiVersion"].startswith(CRD_GROUPS):
            continue
        for version in KUBERNETES_VERSIONS:
            name = f"{relative(path)}:{doc['kind']}/{doc['metadata']['name']}@{version}"
            cases.append(pytest.param(doc, version, id=name))
    return cases


@pytest.mark.parametrize(("doc", "version"), _schema_cases())
def test_object_validates_against_the_kubernetes_schema(doc: dict[str, Any], version: str) -> None:
    # strict: an unknown field (a typo, a field of another version) is an error too.
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_notices_a_misplaced_field(deployment: dict[str, Any]) -> None:
    broken = copy.deepcopy(deployment)
    server_container(broken)["readOnlyRootFileSystem"] = True  # belongs in securityContext, and misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_every_object_is_a_known_kind() -> None:
    """Nothing is skipped silently: an object is either in the Kubernetes schemas or a CRD we
    check ourselves (the RayService)."""
    kinds = sorted({(doc["apiVersion"], doc["kind"]) for _, doc in resources()})
    assert kinds == [
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("ray.io/v1", "RayService"),
        ("v1", "ConfigMap"),
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
    ]


# -- kustomizations ---------------------------------------------------------------------------


def kustomize_files(kustomization: Path) -> list[Path]:
    """The resource files a kustomization includes, following directories recursively."""
    [doc] = load_documents(kustomization)
    files: list[Path] = []
    for entry in doc.get("resources", []):
        target = (kustomization.parent / entry).resolve()
        if target.is_dir():
            files.extend(kustomize_files(target / KUSTOMIZATION))
        else:
            files.append(target)
    return files


def kustomization_problems(kustomization: Path) -> list[str]:
    [doc] = load_documents(kustomization)
    problems = []
    if doc.get("apiVersion") != "kustomize.config.k8s.io/v1beta1" or doc.get("kind") != "Kustomization":
        problems.append("not a kustomize.config.k8s.io/v1beta1 Kustomization")
    for entry in doc.get("resources", []):
        target = kustomization.parent / entry
        if not (target.is_file() or (target / KUSTOMIZATION).is_file()):
            problems.append(f"resource {entry!r} is neither a file nor a kustomization directory")
    unknown = set(doc) - {"apiVersion", "kind", "namespace", "resources", "images", "labels", "patches"}
    if unknown:
        problems.append(f"fields this test does not know: {sorted(unknown)}")
    return problems


@pytest.mark.parametrize("kustomization", kustomizations(), ids=relative)
def test_kustomization_is_well_formed(kustomization: Path) -> None:
    assert kustomization_problems(kustomization) == []


def test_every_manifest_is_applied_by_a_kustomization_but_the_secret_example() -> None:
    included = {f for k in kustomizations() for f in kustomize_files(k)}
    left_out = sorted(relative(p) for p in resource_files() if p.resolve() not in included)
    assert left_out == [relative(SECRET_EXAMPLE)]


@pytest.mark.parametrize(
    ("kustomization", "has", "has_not"),
    [
        pytest.param(
            KUBERNETES / KUSTOMIZATION,
            {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"},
            {"RayService", "Secret"},
            id="local-engine",
        ),
        pytest.param(
            KUBERNETES / "ray" / KUSTOMIZATION,
            {"Namespace", "ConfigMap", "RayService"},
            {"Deployment", "HorizontalPodAutoscaler", "Secret"},
            id="ray-engine",
        ),
    ],
)
def test_each_engine_applies_its_own_objects(kustomization: Path, has: set[str], has_not: set[str]) -> None:
    kinds = {doc["kind"] for f in kustomize_files(kustomization) for doc in load_documents(f)}
    assert has <= kinds
    assert not kinds & has_not
    [doc] = load_documents(kustomization)
    assert doc["namespace"] == find("Namespace")["metadata"]["name"]


# -- settings ---------------------------------------------------------------------------------


def unknown_settings(env_names: list[str]) -> list[str]:
    """SHIPYARD_* names that are no ``Settings`` field: Settings.load would ignore them."""
    return [
        name
        for name in env_names
        if name.startswith(ENV_PREFIX) and name.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    ]


def _container_env_names() -> list[str]:
    return [item["name"] for pod in pod_specs() for c in pod.spec["containers"] for item in c.get("env", [])]


def test_configmap_and_container_settings_are_real_settings(configmap: dict[str, Any]) -> None:
    assert unknown_settings([*configmap["data"], *_container_env_names()]) == []


def test_the_settings_check_notices_a_misspelt_name() -> None:
    assert unknown_settings(["SHIPYARD_DRAIN_SECOND", "SHIPYARD_PORT"]) == ["SHIPYARD_DRAIN_SECOND"]


def test_the_configmap_values_are_valid_settings(settings: Settings) -> None:
    assert settings.registry_url is not None and settings.registry_url.startswith("postgresql")
    assert settings.artifacts_url is not None and settings.artifacts_url.startswith("s3://")
    assert settings.signing == "strict"
    assert settings.pii_hash_key is not None


def test_invalid_configmap_values_are_refused(configmap: dict[str, Any], secret: dict[str, Any]) -> None:
    from shipyard.errors import ConfigError

    broken = copy.deepcopy(configmap)
    broken["data"]["SHIPYARD_DRAIN_SECONDS"] = "-5"
    with pytest.raises(ConfigError):
        settings_from(broken, secret)


def test_secrets_come_from_the_secret_and_not_the_configmap(
    deployment: dict[str, Any], configmap: dict[str, Any], secret: dict[str, Any]
) -> None:
    must_be_secret = {
        "SHIPYARD_REGISTRY_URL",
        "SHIPYARD_PII_HASH_KEY",
        "SHIPYARD_AUDIT_HMAC_KEY",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert not must_be_secret & set(configmap["data"])
    for pod in pod_specs():
        for container in pod.spec["containers"]:
            refs = {
                item["name"]: item["valueFrom"]["secretKeyRef"]
                for item in container.get("env", [])
                if "secretKeyRef" in item.get("valueFrom", {})
            }
            assert must_be_secret <= set(refs), pod.where
            for name, ref in refs.items():
                assert ref["name"] == secret["metadata"]["name"], name
                assert ref["key"] in secret["stringData"], name
            # Without the registry URL a pod would serve a private SQLite registry of its own.
            assert not refs["SHIPYARD_REGISTRY_URL"].get("optional", False)
            assert not refs["SHIPYARD_PII_HASH_KEY"].get("optional", False)
    assert secret["metadata"]["namespace"] == find("Namespace")["metadata"]["name"]


def test_the_server_listens_beyond_loopback_with_no_anonymous_route(settings: Settings) -> None:
    assert not is_loopback(settings.host)
    check_bind(settings, warn=False)  # raises ConfigError if some route were anonymous


# -- security ---------------------------------------------------------------------------------


def security_problems(pod: dict[str, Any], uid: int) -> list[str]:
    """What keeps ``pod`` from the "restricted" Pod Security Standard, a read-only root file
    system and the image's user ``uid``."""
    problems = []
    context = pod.get("securityContext", {})
    if context.get("runAsNonRoot") is not True:
        problems.append("pod: runAsNonRoot is not true")
    if context.get("runAsUser") != uid:
        problems.append(f"pod: runAsUser {context.get('runAsUser')} is not the image's {uid}")
    if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod: seccompProfile is not RuntimeDefault")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("pod: the service account token is mounted")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problems.append("pod: shares a host namespace")
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        name = container["name"]
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
            problems.append(f"{name}: capabilities are not all dropped")
        if sc.get("runAsNonRoot", context.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", context.get("runAsUser")) != uid:
            problems.append(f"{name}: runs as another user than {uid}")
        if sc.get("seccompProfile", context.get("seccompProfile", {})).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        # With a read-only root, the only places Shipyard writes must be writable volumes.
        mounts = writable_mounts(pod, container)
        for variable, default in (("SHIPYARD_HOME", None), ("TMPDIR", "/tmp")):
            path = env_value(container, variable) or default
            if path is None or path not in mounts:
                problems.append(f"{name}: {variable}={path} is not a writable volume")
        for kind in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(container.get("resources", {}).get(kind, {}))
            if missing:
                problems.append(f"{name}: no {kind} for {sorted(missing)}")
    return problems


def image_uid() -> int:
    user = read_dockerfile().final.all("USER")[-1]
    return int(user.split(":")[0])


@pytest.mark.parametrize("pod", pod_specs(), ids=lambda p: p.where)
def test_pods_run_restricted_as_the_image_user_on_a_read_only_root(pod: PodSpec) -> None:
    assert security_problems(pod.spec, image_uid()) == []


BREAKAGES: list[Any] = [
    pytest.param(lambda c, p: c["securityContext"].update(allowPrivilegeEscalation=True), id="privilege-escalation"),
    pytest.param(lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False), id="writable-root"),
    pytest.param(lambda c, p: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), id="capabilities-kept"),
    pytest.param(lambda c, p: p["securityContext"].update(runAsUser=0), id="root-user"),
    pytest.param(lambda c, p: p["securityContext"].pop("seccompProfile"), id="no-seccomp"),
    pytest.param(lambda c, p: c["volumeMounts"].pop(1), id="tmp-not-mounted"),
    pytest.param(lambda c, p: c["resources"].pop("limits"), id="no-limits"),
]


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_security_check_notices(deployment: dict[str, Any], breakage: Callable[..., Any]) -> None:
    broken = copy.deepcopy(deployment)
    pod = broken["spec"]["template"]["spec"]
    breakage(server_container(broken), pod)
    assert security_problems(pod, image_uid()) != []


# -- probes and shutdown ----------------------------------------------------------------------


def open_get_routes() -> set[str]:
    return {r.path for r in ROUTES if r.method == "GET" and r.scope == OPEN}


def probe_problems(deployment: dict[str, Any], settings: Settings) -> list[str]:
    container = server_container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    problems = []
    expected = {"startupProbe": LIVE, "livenessProbe": LIVE, "readinessProbe": READY}
    for probe, path in expected.items():
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path:
            problems.append(f"{probe} asks {get.get('path')}, not {path}")
        elif path not in open_get_routes():
            problems.append(f"{probe}: {path} is not an open GET route of the server")
        port = ports.get(get.get("port"), get.get("port"))
        if port != settings.port:
            problems.append(f"{probe} asks port {port}, the server listens on {settings.port}")
    return problems


def test_probes_ask_the_open_health_routes_on_the_server_port(deployment: dict[str, Any], settings: Settings) -> None:
    assert probe_problems(deployment, settings) == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda c: c["readinessProbe"]["httpGet"].update(path=LIVE), id="readiness-on-live"),
        pytest.param(lambda c: c["livenessProbe"]["httpGet"].update(path="/healthz"), id="no-such-route"),
        pytest.param(lambda c: c["readinessProbe"]["httpGet"].update(port=8081), id="grpc-port"),
    ],
)
def test_the_probe_check_notices(deployment: dict[str, Any], settings: Settings, breakage: Callable[..., Any]) -> None:
    broken = copy.deepcopy(deployment)
    breakage(server_container(broken))
    assert probe_problems(broken, settings) != []


def pre_stop_seconds(container: dict[str, Any]) -> float:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, command
    return float(command[1])


def shutdown_problems(deployment: dict[str, Any], settings: Settings) -> list[str]:
    """The pod's grace period must outlast what the server does after it is told to stop:
    the preStop sleep (endpoints drop the pod), then after SIGTERM the drain (/ready says
    503), the graceful timeout (requests in flight finish) and the supervisor's own margin."""
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = pre_stop_seconds(server_container(deployment))
    needed = pre_stop + settings.drain_seconds + settings.graceful_timeout_seconds + STOP_MARGIN_SECONDS
    grace = pod.get("terminationGracePeriodSeconds", 30)
    problems = []
    if grace < needed:
        problems.append(f"terminationGracePeriodSeconds {grace} < {needed} the server may need")
    if pre_stop != settings.drain_seconds:
        problems.append(f"preStop sleeps {pre_stop} s, drain_seconds is {settings.drain_seconds}")
    if settings.drain_seconds <= 0:
        problems.append("drain_seconds is 0: /ready never says 503 before the listener closes")
    return problems


def test_the_grace_period_covers_drain_and_graceful_timeout(deployment: dict[str, Any], settings: Settings) -> None:
    assert shutdown_problems(deployment, settings) == []


def test_the_grace_period_check_notices_a_longer_graceful_timeout(
    deployment: dict[str, Any], configmap: dict[str, Any], secret: dict[str, Any], settings: Settings
) -> None:
    changed = copy.deepcopy(configmap)
    changed["data"]["SHIPYARD_GRACEFUL_TIMEOUT_SECONDS"] = "60"
    assert shutdown_problems(deployment, settings_from(changed, secret)) != []
    # Left out of the ConfigMap, the setting takes Settings' own default, which the period covers.
    del changed["data"]["SHIPYARD_GRACEFUL_TIMEOUT_SECONDS"]
    default = settings_from(changed, secret)
    assert default.graceful_timeout_seconds == Settings.model_fields["graceful_timeout_seconds"].default
    assert shutdown_problems(deployment, default) == []


# -- wiring: Service, PDB, HPA ----------------------------------------------------------------


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_pdb_and_hpa_point_at_the_server(deployment: dict[str, Any], settings: Settings) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    assert _selects(find("Service", SERVER)["spec"]["selector"], labels)
    assert _selects(find("PodDisruptionBudget", SERVER)["spec"]["selector"]["matchLabels"], labels)
    target = find("HorizontalPodAutoscaler", SERVER)["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", SERVER)
    # The autoscaler owns the count: a `replicas` here would reset it at every apply.
    assert "replicas" not in deployment["spec"]
    hpa = find("HorizontalPodAutoscaler", SERVER)["spec"]
    pdb = find("PodDisruptionBudget", SERVER)["spec"]
    assert hpa["minReplicas"] - pdb.get("maxUnavailable", 0) >= 1, "a voluntary disruption may take every pod"


def test_service_ports_are_the_server_ports(deployment: dict[str, Any], settings: Settings) -> None:
    container_ports = {p["name"]: p["containerPort"] for p in server_container(deployment)["ports"]}
    service_ports = {p["name"]: p for p in find("Service", SERVER)["spec"]["ports"]}
    assert container_ports == {"http": settings.port, "grpc": settings.grpc_port}
    assert set(service_ports) == set(container_ports)
    for name, port in service_ports.items():
        assert port["targetPort"] == name
        # The server answers a Host header's port only if it is its own: keep them equal.
        assert port["port"] == container_ports[name]


def test_allowed_hosts_name_the_service(settings: Settings) -> None:
    namespace = find("Namespace")["metadata"]["name"]
    hosts = {h.strip() for h in settings.allowed_hosts.split(",")}
    assert {SERVER, f"{SERVER}.{namespace}.svc", f"{SERVER}.{namespace}.svc.cluster.local"} <= hosts


def _cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_workers_fit_the_cpu_limit(deployment: dict[str, Any], settings: Settings) -> None:
    limit = _cpus(str(server_container(deployment)["resources"]["limits"]["cpu"]))
    assert settings.workers is not None, "without SHIPYARD_WORKERS a pod starts one worker per core of the node"
    assert 1 <= settings.workers <= max(1, limit)


# -- the RayService ---------------------------------------------------------------------------

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {"spec": {"type": "object", "required": ["containers"]}},
}
_COUNT = {"type": "integer", "minimum": 0}

RAYSERVICE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "The parts of KubeRay's ray.io/v1 RayService that deploy/kubernetes/ray uses",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayService"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
        },
        "spec": {
            "type": "object",
            "required": ["serveConfigV2", "rayClusterConfig"],
            "additionalProperties": False,
            "properties": {
                "serveConfigV2": {"type": "string"},
                "upgradeStrategy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"type": {"enum": ["NewCluster", "None"]}},
                },
                "rayClusterConfig": {
                    "type": "object",
                    "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
                    "additionalProperties": False,
                    "properties": {
                        "rayVersion": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
                        "enableInTreeAutoscaling": {"type": "boolean"},
                        "autoscalerOptions": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "upscalingMode": {"enum": ["Default", "Aggressive", "Conservative"]},
                                "idleTimeoutSeconds": _COUNT,
                                "resources": {"type": "object"},
                                "securityContext": {"type": "object"},
                            },
                        },
                        "headGroupSpec": {
                            "type": "object",
                            "required": ["rayStartParams", "template"],
                            "additionalProperties": False,
                            # KubeRay's rayStartParams is map[string]string: `num-cpus: 0` unquoted is refused.
                            "properties": {"rayStartParams": _STRING_MAP, "template": _TEMPLATE},
                        },
                        "workerGroupSpecs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["groupName", "rayStartParams", "template"],
                                "additionalProperties": False,
                                "properties": {
                                    "groupName": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                                    "replicas": _COUNT,
                                    "minReplicas": _COUNT,
                                    "maxReplicas": _COUNT,
                                    "rayStartParams": _STRING_MAP,
                                    "template": _TEMPLATE,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

SERVE_CONFIG_SCHEMA: dict[str, Any] = {
    "title": "Ray Serve's config file (serveConfigV2), as far as Shipyard uses it",
    "type": "object",
    "required": ["http_options", "applications"],
    "additionalProperties": False,
    "properties": {
        "proxy_location": {"enum": ["EveryNode", "HeadOnly", "Disabled"]},
        "http_options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
        },
        "applications": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "import_path", "route_prefix", "args"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "route_prefix": {"type": "string", "pattern": "^/"},
                    "import_path": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"},
                    "args": {
                        "type": "object",
                        "required": ["refs"],
                        "properties": {"refs": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
                    },
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def rayservice() -> dict[str, Any]:
    return find("RayService")


def rayservice_problems(doc: dict[str, Any]) -> list[str]:
    problems = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(RAYSERVICE_SCHEMA).iter_errors(doc)
    ]
    if problems:
        return problems
    for group in doc["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        low, count, high = (group.get(k, 1) for k in ("minReplicas", "replicas", "maxReplicas"))
        if not low <= count <= high:
            problems.append(f"worker group {group['groupName']}: replicas {count} not within [{low}, {high}]")
    serve = yaml.safe_load(doc["spec"]["serveConfigV2"])
    problems.extend(
        f"serveConfigV2 {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(SERVE_CONFIG_SCHEMA).iter_errors(serve)
    )
    if problems:
        return problems
    head = doc["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    serve_ports = [p["containerPort"] for p in head.get("ports", []) if p["name"] == "serve"]
    if serve_ports != [serve["http_options"]["port"]]:
        problems.append(f"the head's serve port {serve_ports} is not Ray Serve's {serve['http_options']['port']}")
    return problems


def test_rayservice_has_the_shape_kuberay_expects(rayservice: dict[str, Any]) -> None:
    """The RayService is a CRD, not in the Kubernetes schemas: a JSON schema of the fields we
    use (unknown fields refused) stands in for KubeRay's, and its pod templates are checked
    against the real PodTemplate schema below."""
    assert rayservice_problems(rayservice) == []


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(
            lambda d: d["spec"]["rayClusterConfig"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),
            id="int-start-param",
        ),
        pytest.param(lambda d: d["spec"].update(serveConfig="x"), id="v1alpha1-field"),
        pytest.param(
            lambda d: d["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].update(replicas=20), id="replicas-past-max"
        ),
        pytest.param(
            lambda d: d["spec"].update(serveConfigV2="applications: []\nhttp_options: {port: 8000}\n"),
            id="no-application",
        ),
        pytest.param(
            lambda d: d["spec"].update(serveConfigV2=d["spec"]["serveConfigV2"].replace("port: 8000", "port: 8080")),
            id="serve-port-mismatch",
        ),
    ],
)
def test_the_rayservice_check_notices(rayservice: dict[str, Any], breakage: Callable[..., Any]) -> None:
    broken = copy.deepcopy(rayservice)
    breakage(broken)
    assert rayservice_problems(broken) != []


@pytest.mark.parametrize("pod", [p for p in pod_specs() if p.where.startswith("RayService")], ids=lambda p: p.where)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rayservice_pod_templates_validate_as_pod_templates(pod: PodSpec, version: str) -> None:
    wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": {"spec": pod.spec}}
    kubernetes_validate.validate(wrapped, version, strict=True)


def test_rayservice_serves_valid_references(rayservice: dict[str, Any]) -> None:
    serve = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    for app in serve["applications"]:
        for ref in app["args"]["refs"]:
            parse_ref(ref)  # raises on a reference `shipyard serve` would refuse


def test_rayservice_import_path_names_the_ray_engine(rayservice: dict[str, Any]) -> None:
    """The application builder the RayService deploys must exist in the package. The Ray
    engine (issue 11, part 1) provides it; until it lands this test is skipped, not passed."""
    serve = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    for app in serve["applications"]:
        module, _, attribute = app["import_path"].partition(":")
        try:
            found = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            found = None
        if found is None:
            pytest.skip(f"{module} is not in the package yet: the Ray engine has not landed")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_rayservice_shares_the_local_engine_settings(rayservice: dict[str, Any], deployment: dict[str, Any]) -> None:
    """Both engines read the same ConfigMap and Secret, so a switch changes nothing else."""

    def sources(container: dict[str, Any]) -> tuple[list[Any], list[str]]:
        refs = sorted(
            f"{i['name']}={i['valueFrom']['secretKeyRef']['key']}" for i in container["env"] if "valueFrom" in i
        )
        return container["envFrom"], refs

    local = sources(server_container(deployment))
    for pod in pod_specs():
        for container in pod.spec["containers"]:
            assert sources(container) == local, pod.where


def test_no_manifest_hard_codes_a_namespace_but_the_secret_example() -> None:
    """The kustomizations set the namespace; one written in a manifest would fight them."""
    pinned = [
        relative(path)
        for path, doc in resources()
        if doc["kind"] != "Namespace" and "namespace" in doc["metadata"] and path != SECRET_EXAMPLE
    ]
    assert pinned == []


def test_manifests_carry_no_placeholder_but_the_secret_example() -> None:
    marker = re.compile(r"CHANGE-ME|TODO|FIXME|<[A-Z_]+>")
    found = [
        relative(p) for p in resource_files() if p != SECRET_EXAMPLE and marker.search(p.read_text(encoding="utf-8"))
    ]
    assert found == []
