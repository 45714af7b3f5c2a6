"""The Dockerfile, read as text (no container engine needed): multi-stage, a non-root numeric
user, a Python health check against the liveness route, the settings a container needs, and a
.dockerignore that keeps the context to what the build copies. Whether the image builds and
runs read-only is checked by hand with `make image` (docs/scale-out.md); `make test` never
needs a container engine.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from deploy_files import DOCKERIGNORE, ROOT, Dockerfile, logical_lines, parse_dockerfile, read_dockerfile

from shipyard.config import ENV_PREFIX, Settings

LIVE = "/v2/health/live"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile()


# -- the parser the checks rely on ------------------------------------------------------------


def test_the_parser_joins_continuations_and_drops_comments() -> None:
    text = "# c\nFROM a AS b\nRUN x \\\n # inside\n && y\nFROM c\nUSER 1\n"
    assert logical_lines(text) == ["FROM a AS b", "RUN x && y", "FROM c", "USER 1"]
    parsed = parse_dockerfile(text)
    assert [(s.base, s.name) for s in parsed.stages] == [("a", "b"), ("c", None)]
    assert parsed.final.all("USER") == ["1"]


# -- stages -----------------------------------------------------------------------------------


def stage_problems(dockerfile: Dockerfile) -> list[str]:
    problems = []
    if len(dockerfile.stages) < 2:
        return ["a single stage: build tools and sources would ship in the image"]
    builder, final = dockerfile.stages[0], dockerfile.final
    if builder.name is None:
        problems.append("the builder stage has no name to copy from")
    base = dockerfile.args.get("PYTHON_IMAGE", "")
    if not re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base):
        problems.append(f"the base image {base!r} is not a slim Python >= 3.11")
    if final.base != "${PYTHON_IMAGE}" or builder.base != "${PYTHON_IMAGE}":
        problems.append("the stages do not share the PYTHON_IMAGE base (the venv's interpreter path would differ)")
    installs = [args for args in builder.all("RUN") if "pip install" in args and "-c constraints.txt" in args]
    if not installs:
        problems.append("the builder does not install with -c constraints.txt")
    if not any("pip wheel" in args for args in builder.all("RUN")):
        problems.append("the builder does not build a wheel")
    if any(re.search(r"\b(pip|apt-get|apt)\b.*\binstall\b", args) for args in final.all("RUN")):
        problems.append("the runtime stage installs packages")
    copies = final.all("COPY")
    if copies != [f"--from={builder.name} /opt/shipyard /opt/shipyard"]:
        problems.append(f"the runtime stage copies more than the builder's venv: {copies}")
    return problems


def test_multi_stage_build_ships_only_the_venv(dockerfile: Dockerfile) -> None:
    assert stage_problems(dockerfile) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("FROM ${PYTHON_IMAGE} AS runtime", "", id="single-stage"),
        pytest.param("COPY --from=builder /opt/shipyard /opt/shipyard", "COPY . /src", id="copies-sources"),
        pytest.param("-c constraints.txt", "", id="unpinned"),
        pytest.param("python:3.11-slim", "python:3.11", id="not-slim"),
    ],
)
def test_the_stage_check_notices(old: str, new: str) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert old in text
    assert stage_problems(parse_dockerfile(text.replace(old, new))) != []


# -- user, health check, ports ----------------------------------------------------------------


def runtime_problems(dockerfile: Dockerfile) -> list[str]:
    final = dockerfile.final
    problems = []
    users = final.all("USER")
    if not users or not re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]):
        problems.append(f"USER {users[-1] if users else None}: not a numeric non-root uid (runAsNonRoot needs one)")
    checks = final.all("HEALTHCHECK")
    if len(checks) != 1:
        problems.append(f"{len(checks)} HEALTHCHECK instructions")
    else:
        check = checks[0]
        if '"python"' not in check or LIVE not in check:
            problems.append(f"the health check does not ask {LIVE} with Python: {check}")
        if re.search(r"\b(curl|wget)\b", check):
            problems.append("the health check needs curl or wget, which the slim image lacks")
    exposed = {int(p.split("/")[0]) for args in final.all("EXPOSE") for p in args.split()}
    env = dockerfile.env(final)
    port = int(env.get(f"{ENV_PREFIX}PORT", Settings.model_fields["port"].default))
    grpc_port = int(env.get(f"{ENV_PREFIX}GRPC_PORT", Settings.model_fields["grpc_port"].default))
    if exposed != {port, grpc_port}:
        problems.append(f"EXPOSE {sorted(exposed)}, the server listens on {port} and {grpc_port}")
    return problems


def test_non_root_user_health_check_and_ports(dockerfile: Dockerfile) -> None:
    assert runtime_problems(dockerfile) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("USER 10001:10001", "USER shipyard", id="named-user"),
        pytest.param("USER 10001:10001", "USER 0", id="root"),
        pytest.param('CMD ["python", "-I", "-c",', 'CMD ["curl", "-f", "-c",', id="curl"),
        pytest.param("/v2/health/live", "/healthz", id="other-route"),
        pytest.param("EXPOSE 8080 8081", "EXPOSE 8080", id="no-grpc-port"),
    ],
)
def test_the_runtime_check_notices(old: str, new: str) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert old in text
    assert runtime_problems(parse_dockerfile(text.replace(old, new))) != []


def test_the_container_listens_beyond_loopback_while_the_default_stays_loopback(dockerfile: Dockerfile) -> None:
    env = dockerfile.env(dockerfile.final)
    assert env[f"{ENV_PREFIX}HOST"] == "0.0.0.0"
    assert Settings.model_fields["host"].default == "127.0.0.1"


def test_environment_names_real_settings_and_writable_places(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    env = dockerfile.env(final)
    unknown = [
        k for k in env if k.startswith(ENV_PREFIX) and k.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    ]
    assert unknown == []
    volumes = {v.strip('[]" ') for args in final.all("VOLUME") for v in args.split(",")}
    # On a read-only root the home is a volume and the temp directory a tmpfs (docs/scale-out.md);
    # libraries that cache under HOME write to the tmpfs too.
    assert env[f"{ENV_PREFIX}HOME"] in volumes
    assert env["TMPDIR"] == "/tmp"
    assert env["HOME"] == env["TMPDIR"]
    assert env["XDG_CACHE_HOME"].startswith(env["TMPDIR"] + "/")
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert any("compileall" in args for args in dockerfile.stages[0].all("RUN")), "byte-code must be compiled at build"


def test_the_entrypoint_is_exec_form(dockerfile: Dockerfile) -> None:
    # Exec form: shipyard is PID 1 and receives SIGTERM itself (a shell would swallow it).
    [entrypoint] = dockerfile.final.all("ENTRYPOINT")
    assert entrypoint == '["shipyard"]'


# -- .dockerignore ----------------------------------------------------------------------------


def _pattern(body: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression (Go's filepath.Match, plus ``**``)."""
    out = ""
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif body.startswith("**", i):
            out, i = out + ".*", i + 2
        elif body[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif body[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(body[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern matching it,
    or a directory above it, decides; ``!`` patterns put things back."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not negate
    return result


def test_the_ignore_matcher_follows_docker() -> None:
    patterns = ["*", "!src/", "**/__pycache__"]
    assert ignored("tests/x.py", patterns)
    assert not ignored("src/shipyard/config.py", patterns)
    assert ignored("src/shipyard/__pycache__/config.pyc", patterns)


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_sends_what_the_build_copies_and_nothing_else(dockerfile: Dockerfile) -> None:
    patterns = dockerignore_patterns()
    sources = []
    for stage in dockerfile.stages:
        for args in stage.all("COPY"):
            words = args.split()
            if words[0].startswith("--from="):
                continue
            sources.extend(words[:-1])
    assert sources, "the build copies nothing from the context"
    for source in sources:
        assert not ignored(source, patterns), f"{source} is copied but ignored"
    for private in (
        ".venv/bin/python",
        ".git/config",
        "tests/conftest.py",
        ".shipyard-demo/registry.db",
        "benchmarks/run.py",
    ):
        assert ignored(private, patterns), f"{private} would be sent to the build"
    assert ignored("src/shipyard/__pycache__/config.cpython-311.pyc", patterns)


# -- make image -------------------------------------------------------------------------------


def test_make_test_does_not_need_a_container_engine() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = {m.group(1): m.group(2).split() for m in re.finditer(r"^([\w-]+):([^=\n]*)$", makefile, re.MULTILINE)}
    assert "image" in targets
    seen: set[str] = set()
    todo = ["test"]
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        todo.extend(t for t in targets.get(target, []) if t in targets)
    assert "image" not in seen


@pytest.mark.skipif(os.name != "posix", reason="make and sh")
def test_make_image_without_an_engine_says_so_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "image", "CONTAINER_ENGINE="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    # make's own "make: *** ..." line ("make[1]: ..." when run from another make, as CI does).
    lines = [line for line in result.stderr.splitlines() if line.strip() and not re.match(r"make(\[\d+\])?: ", line)]
    assert len(lines) == 1
    assert "docker or podman" in lines[0]
    assert result.stdout == ""
