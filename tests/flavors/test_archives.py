"""safe_extract: every kind of hostile archive entry is refused before anything escapes."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.errors import PathEscape, UnsafeFormat, UnsupportedFormat
from shipyard.fs.archives import check_member_name, safe_extract


def make_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """Entries are (name, data, unix mode including the file type bits)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def make_tar(path: Path, build: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(path, "w") as tf:
        build(tf)
    return path


def add_file(tf: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def add_special(tf: tarfile.TarFile, name: str, kind: bytes, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tf.addfile(info)


FILE = stat.S_IFREG | 0o644


def test_good_zip_extracts_every_file(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "ok.zip", [("a.txt", b"a", FILE), ("dir/", b"", stat.S_IFDIR | 0o755), ("dir/b.txt", b"bb", FILE)]
    )
    written = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["a.txt", "dir/b.txt"]
    assert (tmp_path / "out" / "dir" / "b.txt").read_bytes() == b"bb"


def test_good_tar_extracts_every_file(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "ok.tar", lambda tf: (add_file(tf, "a.txt", b"a"), add_file(tf, "d/b.txt", b"b")))
    written = safe_extract(archive, tmp_path / "out")
    assert len(written) == 2 and (tmp_path / "out" / "d" / "b.txt").read_bytes() == b"b"


ZIP_ATTACKS = {
    "absolute": [("/etc/evil", b"x", FILE)],
    "dot-dot": [("../evil", b"x", FILE)],
    "nested-dot-dot": [("a/b/../../../evil", b"x", FILE)],
    "backslash": [("..\\evil", b"x", FILE)],
    "drive-letter": [("C:/evil", b"x", FILE)],
    "symlink": [("link", b"/etc/passwd", stat.S_IFLNK | 0o777)],
    "device": [("dev", b"", stat.S_IFCHR | 0o644)],
    "duplicate": [("a.txt", b"1", FILE), ("a.txt", b"2", FILE)],
    "late-bad-entry": [("fine.txt", b"x", FILE), ("../evil", b"x", FILE)],
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("entries", ZIP_ATTACKS.values(), ids=ZIP_ATTACKS.keys())
def test_hostile_zip_entries_are_refused(entries: list[tuple[str, bytes, int]], tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bad.zip", entries)
    dest = tmp_path / "box" / "out"
    with pytest.raises(PathEscape):
        safe_extract(archive, dest)
    assert not (tmp_path / "box" / "evil").exists() and not (tmp_path / "evil").exists()
    # Nothing is written when any entry is bad: names are checked before extracting.
    assert not (dest / "fine.txt").exists()


TAR_ATTACKS: dict[str, Callable[[tarfile.TarFile], None]] = {
    "absolute": lambda tf: add_file(tf, "/tmp/evil"),
    "dot-dot": lambda tf: add_file(tf, "../evil"),
    "symlink": lambda tf: add_special(tf, "link", tarfile.SYMTYPE, "/etc/passwd"),
    "hardlink": lambda tf: add_special(tf, "link", tarfile.LNKTYPE, "/etc/passwd"),
    "device": lambda tf: add_special(tf, "dev", tarfile.CHRTYPE),
    "fifo": lambda tf: add_special(tf, "fifo", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("build", TAR_ATTACKS.values(), ids=TAR_ATTACKS.keys())
def test_hostile_tar_entries_are_refused(build: Callable[[tarfile.TarFile], None], tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "bad.tar", build)
    with pytest.raises(PathEscape):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    "name",
    ["", "a\x00b", "/abs", "..", "a/../../b", "a\\b", "D:x", "."],
    ids=["empty", "nul", "absolute", "dot-dot", "nested-dot-dot", "backslash", "drive", "root"],
)
def test_member_names_that_could_escape(name: str) -> None:
    with pytest.raises(PathEscape):
        check_member_name(name)


def test_existing_symlink_in_destination_cannot_be_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)
    archive = make_zip(tmp_path / "a.zip", [("sub/evil", b"x", FILE)])
    with pytest.raises(PathEscape, match="outside"):
        safe_extract(archive, dest)
    assert not (outside / "evil").exists()


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", [(f"f{i}", b"", FILE) for i in range(11)])
    with pytest.raises(UnsafeFormat, match="members"):
        safe_extract(archive, tmp_path / "out", max_members=10)


def test_too_many_tar_members_is_refused_while_reading(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "many.tar", lambda tf: [add_file(tf, f"f{i}") for i in range(11)])
    with pytest.raises(UnsafeFormat, match="members"):
        safe_extract(archive, tmp_path / "out", max_members=10)


def test_zip_bomb_is_refused_by_declared_size(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * (4 << 20))
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(UnsafeFormat, match="bytes"):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1 << 20)
    assert not (tmp_path / "out" / "zeros").exists()


@pytest.mark.parametrize(
    "content", [b"", b"not an archive at all", b"PK\x03\x04garbage"], ids=["empty", "text", "torn-zip"]
)
def test_non_archives_are_unsupported(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormat):
        safe_extract(path, tmp_path / "out")
