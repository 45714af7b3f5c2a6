"""Reading what the deploy tests check: the Kubernetes manifests under deploy/kubernetes,
the Dockerfile and .dockerignore at the repository root.

The checks themselves are functions that return a list of problems (empty: fine), so that a
test can run each on the real files and on a broken copy, and show that it would notice.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

KUSTOMIZATION = "kustomization.yaml"
SECRET_EXAMPLE = KUBERNETES / "secret.example.yaml"
"""The Secret's shape, deliberately left out of every kustomization (the real one is made by hand)."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def manifest_files() -> list[Path]:
    """Every YAML file under deploy/kubernetes, kustomizations included."""
    return sorted(KUBERNETES.rglob("*.yaml"))


def kustomizations() -> list[Path]:
    return sorted(KUBERNETES.rglob(KUSTOMIZATION))


def resource_files() -> list[Path]:
    """The YAML files that hold Kubernetes objects (not kustomizations)."""
    return [p for p in manifest_files() if p.name != KUSTOMIZATION]


def resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in resource_files():
        for doc in load_documents(path):
            yield path, doc


def find(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of ``kind`` (and ``name``) under deploy/kubernetes."""
    found = [doc for _, doc in resources() if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- pods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSpec:
    """A pod template found in a manifest, and where."""

    where: str
    spec: dict[str, Any]


def pod_specs() -> list[PodSpec]:
    """Every pod template: the Deployment's and the RayService's head and worker groups."""
    found = [PodSpec("Deployment/shipyard", find("Deployment", "shipyard")["spec"]["template"]["spec"])]
    cluster = find("RayService")["spec"]["rayClusterConfig"]
    found.append(PodSpec("RayService head", cluster["headGroupSpec"]["template"]["spec"]))
    found.extend(
        PodSpec(f"RayService worker group {group['groupName']}", group["template"]["spec"])
        for group in cluster["workerGroupSpecs"]
    )
    return found


def env_value(container: dict[str, Any], name: str) -> str | None:
    """A plain ``value`` of the container's environment (None if absent or from a reference)."""
    for item in container.get("env", []):
        if item["name"] == name:
            value = item.get("value")
            return None if value is None else str(value)
    return None


def writable_mounts(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """Mount paths of the container backed by a writable volume (emptyDir or a claim)."""
    writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v or "persistentVolumeClaim" in v}
    return {
        m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in writable and not m.get("readOnly")
    }


# -- the Dockerfile ---------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)
    """(INSTRUCTION, its arguments) in order, continuation lines joined."""

    def all(self, instruction: str) -> list[str]:
        return [args for ins, args in self.instructions if ins == instruction]


@dataclass
class Dockerfile:
    args: dict[str, str]
    """ARGs declared before the first FROM, with their defaults."""
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def env(self, stage: Stage) -> dict[str, str]:
        """The ENV of ``stage`` (``KEY=VALUE`` forms; ``${PATH}`` and the like left as written)."""
        values: dict[str, str] = {}
        for args in stage.all("ENV"):
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                values[key] = value
        return values


def logical_lines(text: str) -> list[str]:
    """Instructions of a Dockerfile: comments dropped, backslash continuations joined."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current.strip())
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            if instruction == "ARG":
                key, _, default = rest.partition("=")
                args[key] = default
        else:
            stages[-1].instructions.append((instruction, rest))
    return Dockerfile(args=args, stages=stages)


def read_dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
