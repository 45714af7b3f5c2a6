"""safe_join and check_relative_name: nothing a caller supplies leaves its root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.errors import PathEscape
from shipyard.fs.paths import check_relative_name, safe_join

ESCAPES = [
    pytest.param("..", id="dotdot"),
    pytest.param("../x", id="dotdot-slash"),
    pytest.param("a/../../x", id="dotdot-inside"),
    pytest.param("..%2fx", id="encoded-slash"),
    pytest.param("%2e%2e%2fx", id="encoded-dotdot"),
    pytest.param("%2E%2E/x", id="encoded-upper"),
    pytest.param("%252e%252e%252fx", id="double-encoded"),
    pytest.param("a%2Fb", id="encoded-slash-only"),
    pytest.param("a%5Cb", id="encoded-backslash"),
    pytest.param("a%00b", id="encoded-nul"),
    pytest.param("..\\x", id="backslash-dotdot"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("~/x", id="home"),
    pytest.param("C:\\x", id="drive-backslash"),
    pytest.param("c:x", id="drive"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("", id="empty"),
    pytest.param("./", id="nothing"),
]


@pytest.mark.parametrize("name", ESCAPES)
def test_check_relative_name_refuses(name: str) -> None:
    with pytest.raises(PathEscape):
        check_relative_name(name)


@pytest.mark.parametrize("name", ESCAPES)
def test_safe_join_refuses(tmp_path: Path, name: str) -> None:
    with pytest.raises(PathEscape):
        safe_join(tmp_path, "ok", name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("model.skops", "model.skops", id="plain"),
        pytest.param("a/b/c.txt", "a/b/c.txt", id="nested"),
        pytest.param("./a//b", "a/b", id="normalised"),
        pytest.param("v1..2", "v1..2", id="dots-inside-a-name"),
        pytest.param("100%25.txt", "100%25.txt", id="harmless-percent"),
    ],
)
def test_check_relative_name_accepts(name: str, expected: str) -> None:
    assert check_relative_name(name) == expected


def test_safe_join_stays_inside(tmp_path: Path) -> None:
    result = safe_join(tmp_path, "sha256", "ab/cd")
    assert result == tmp_path.resolve() / "sha256" / "ab" / "cd"


def test_safe_join_refuses_symlinked_directory_out(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path / "root"
    outside = tmp_path_factory.mktemp("outside")
    (root / "sha256").mkdir(parents=True)
    (root / "sha256" / "ab").symlink_to(outside, target_is_directory=True)

    with pytest.raises(PathEscape, match="outside"):
        safe_join(root, "sha256/ab/abcdef")


def test_safe_join_refuses_symlinked_file_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to("/etc/hostname")

    with pytest.raises(PathEscape):
        safe_join(root, "link")


def test_safe_join_allows_symlink_within_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)

    assert safe_join(tmp_path, "alias", "f") == (tmp_path / "real" / "f").resolve()


def test_safe_join_refuses_symlink_loop(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")

    with pytest.raises(PathEscape):
        safe_join(tmp_path, "a", "x")
