"""Extract zip and tar archives without letting their entries escape or exhaust the disk.

An archive from a registrant is untrusted input: entry names may be absolute, climb out
with ``..``, smuggle Windows separators or NUL bytes, be symlinks or hard links pointing
elsewhere, or decompress into far more bytes than they occupy (zip bombs). Every entry is
checked before anything is written, and bytes are counted while writing because declared
sizes can lie.
"""

from __future__ import annotations

import logging
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from shipyard.errors import PathEscape, UnsafeFormat, UnsupportedFormat

logger = logging.getLogger(__name__)

DEFAULT_MAX_MEMBERS = 10_000
DEFAULT_MAX_TOTAL_BYTES = 1 << 30
_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class _Entry:
    name: str
    is_dir: bool
    size: int


def check_member_name(name: str) -> PurePosixPath:
    """The entry's relative path, or ``PathEscape`` when the name could leave the root."""
    if not name or "\x00" in name:
        raise PathEscape(f"archive entry {name!r} has an empty name or a NUL byte")
    if "\\" in name:
        # Backslashes are separators on Windows and would let "..\\x" climb out there.
        raise PathEscape(f"archive entry {name!r} contains a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise PathEscape(f"archive entry {name!r} is an absolute path")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise PathEscape(f"archive entry {name!r} climbs out with '..'")
    relative = PurePosixPath(*(p for p in parts if p != "."))
    if not relative.parts:
        raise PathEscape(f"archive entry {name!r} names the archive root")
    return relative


def safe_extract(
    archive: Path,
    dest: Path,
    *,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> list[Path]:
    """Extract a zip or tar archive into ``dest`` and return the files written.

    Raises ``PathEscape`` for an entry whose name or type could write outside ``dest``
    (absolute, ``..``, backslash, NUL, symlink, hard link, device), ``UnsafeFormat`` when
    the archive holds more members or bytes than allowed, and ``UnsupportedFormat`` when
    the file is not a readable zip or tar archive.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, root, max_members, max_total_bytes)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, root, max_members, max_total_bytes)
    raise UnsupportedFormat(f"{archive.name} is not a zip or tar archive")


def _extract_zip(archive: Path, root: Path, max_members: int, max_total_bytes: int) -> list[Path]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            entries = []
            for info in infos:
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise PathEscape(f"archive entry {info.filename!r} is a symbolic link")
                # Many writers set only permission bits; a type other than file/dir is refused.
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise PathEscape(f"archive entry {info.filename!r} is not a regular file")
                entries.append(_Entry(info.filename, info.is_dir(), info.file_size))
            targets = _plan(entries, root, max_members, max_total_bytes)
            budget = _Budget(max_total_bytes)
            written = []
            for info, target in zip(infos, targets, strict=True):
                if target is None:
                    continue
                with zf.open(info) as src:
                    _write(src, target, budget)
                written.append(target)
            return written
    except zipfile.BadZipFile as exc:
        raise UnsupportedFormat(f"{archive.name} is a damaged zip archive: {exc}") from exc


def _extract_tar(archive: Path, root: Path, max_members: int, max_total_bytes: int) -> list[Path]:
    try:
        with tarfile.open(archive) as tf:
            members = []
            for member in _bounded(tf, max_members):
                if member.issym() or member.islnk():
                    raise PathEscape(f"archive entry {member.name!r} is a link")
                if not (member.isfile() or member.isdir()):
                    raise PathEscape(f"archive entry {member.name!r} is not a regular file")
                members.append(member)
            entries = [_Entry(m.name, m.isdir(), m.size) for m in members]
            targets = _plan(entries, root, max_members, max_total_bytes)
            budget = _Budget(max_total_bytes)
            written = []
            for member, target in zip(members, targets, strict=True):
                if target is None:
                    continue
                src = tf.extractfile(member)
                if src is None:
                    raise UnsupportedFormat(f"archive entry {member.name!r} cannot be read")
                with src:
                    _write(src, target, budget)
                written.append(target)
            return written
    except tarfile.TarError as exc:
        raise UnsupportedFormat(f"{archive.name} is a damaged tar archive: {exc}") from exc


def _bounded(tf: tarfile.TarFile, max_members: int) -> Iterator[tarfile.TarInfo]:
    # Iterating a tar reads headers one by one; stop early instead of indexing a bomb.
    for count, member in enumerate(tf, start=1):
        if count > max_members:
            raise UnsafeFormat(f"archive has more than {max_members} members")
        yield member


def _plan(entries: list[_Entry], root: Path, max_members: int, max_total_bytes: int) -> list[Path | None]:
    """Check every entry before writing anything; directories map to None."""
    if len(entries) > max_members:
        raise UnsafeFormat(f"archive has {len(entries)} members, more than the limit of {max_members}")
    declared = sum(e.size for e in entries)
    if declared > max_total_bytes:
        raise UnsafeFormat(f"archive would extract to {declared} bytes, more than the limit of {max_total_bytes}")
    seen: set[PurePosixPath] = set()
    targets: list[Path | None] = []
    directories: list[Path] = []
    for entry in entries:
        relative = check_member_name(entry.name)
        target = root.joinpath(*relative.parts)
        # resolve() follows any symlink already inside dest, catching escapes by that route.
        if not target.resolve().is_relative_to(root):
            raise PathEscape(f"archive entry {entry.name!r} resolves outside the destination")
        if entry.is_dir:
            directories.append(target)
            targets.append(None)
            continue
        if relative in seen:
            raise PathEscape(f"archive entry {entry.name!r} appears twice")
        seen.add(relative)
        targets.append(target)
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
    return targets


class _Budget:
    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def spend(self, n: int) -> None:
        self.remaining -= n
        if self.remaining < 0:
            raise UnsafeFormat("archive extracts to more bytes than it declares or than allowed")


def _write(src: IO[bytes], target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target) as out:
        while chunk := src.read(_CHUNK):
            budget.spend(len(chunk))
            out.write(chunk)


@contextmanager
def _exclusive(target: Path) -> Iterator[IO[bytes]]:
    # "xb" refuses to follow or overwrite anything already at the target.
    try:
        with target.open("xb") as out:
            yield out
    except FileExistsError as exc:
        raise PathEscape(f"archive entry would overwrite {target.name!r}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
