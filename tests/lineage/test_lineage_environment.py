"""environment and code_version: what the model was built with, without importing it all."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from shipyard.lineage import code_version, environment


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "train.py").write_text("print('hi')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_environment_lists_installed_libraries() -> None:
    env = environment()

    assert env["python"] == platform.python_version()
    assert env["platform"]
    assert env["numpy"] == metadata.version("numpy")
    assert env["scikit-learn"] == metadata.version("scikit-learn")
    assert env["shipyard"] == metadata.version("shipyard")
    assert all(isinstance(v, str) for v in env.values())


def test_environment_extra_modules() -> None:
    env = environment(["httpx", "not_a_module_anyone_has"])

    assert env["httpx"] == metadata.version("httpx")
    assert "not_a_module_anyone_has" not in env


def test_environment_imports_nothing_heavy() -> None:
    code = (
        "import sys; from shipyard.lineage import environment; environment();"
        "heavy = [m for m in ('onnxruntime', 'xgboost', 'lightgbm', 'sklearn', 'pandas', 'scipy') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_code_version_clean_and_dirty(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")

    assert code_version(repo) == head
    assert code_version(repo / "train.py") == head

    (repo / "train.py").write_text("print('changed')\n")
    assert code_version(repo) == head + "+dirty"


def test_code_version_counts_untracked_files_as_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("x")
    version = code_version(repo)
    assert version is not None and version.endswith("+dirty")


def test_code_version_outside_a_repo(tmp_path: Path) -> None:
    assert code_version(tmp_path) is None


def test_code_version_without_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert code_version(repo) is None


def test_code_version_of_a_missing_path() -> None:
    assert code_version(Path("/nonexistent/deeply/nested")) is None
