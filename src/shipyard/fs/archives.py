"""Extract zip and tar archives without letting their entries escape or exhaust the disk.

An archive from a registrant is untrusted input: entry names may be absolute, climb out
with ``..``, smuggle Windows separators or NUL bytes, be symlinks or hard links pointing
elsewhere, or decompress into far more bytes than they occupy (zip bombs). Every entry is
checked before anything is written, and bytes are counted while writing because declared
sizes can lie.

A zip's member count is read from its end record before the central directory is parsed
(parsing builds one object per entry), and its declared sizes and compression ratio are
checked before any member is read (``open_zip``): the skops flavor uses the same check
before skops touches the file.
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
DEFAULT_MAX_RATIO = 100
"""Uncompressed bytes per stored byte, for a member and for the whole archive."""
RATIO_FLOOR_BYTES = 8 << 20
"""Below this many uncompressed bytes (a member, or the archive's total) any ratio passes:
small runs of zeros compress far better than 100:1 and cannot hurt."""
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


def open_zip(
    archive: Path,
    *,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_ratio: int = DEFAULT_MAX_RATIO,
) -> zipfile.ZipFile:
    """``archive`` opened as a zip after its bounds are checked, before any member is read.

    ``UnsafeFormat`` when the end record declares more than ``max_members`` entries (checked
    before the central directory is parsed), when the declared uncompressed sizes add up to
    more than ``max_total_bytes``, or when a member or the whole archive expands more than
    ``max_ratio`` times (above ``RATIO_FLOOR_BYTES``); ``UnsupportedFormat`` when it is not a
    readable zip. Python's zipfile never yields more than a member's declared size, so the
    declared sizes bound what reading can produce.
    """
    try:
        with archive.open("rb") as fp:
            declared = _declared_entries(fp)
        if declared is not None and declared > max_members:
            raise UnsafeFormat(f"{archive.name} has {declared} members, more than the limit of {max_members}")
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise UnsupportedFormat(f"{archive.name} is not a readable zip archive: {exc}") from exc
    except OSError as exc:
        raise UnsupportedFormat(f"{archive.name} cannot be read as a zip archive: {exc.strerror}") from exc
    try:
        check_zip_bounds(
            zf,
            archive.stat().st_size,
            name=archive.name,
            max_members=max_members,
            max_total_bytes=max_total_bytes,
            max_ratio=max_ratio,
        )
    except BaseException:
        zf.close()
        raise
    return zf


def check_zip_bounds(
    zf: zipfile.ZipFile, archive_bytes: int, *, name: str, max_members: int, max_total_bytes: int, max_ratio: int
) -> None:
    """The count, declared-size and compression-ratio checks of ``open_zip`` on an open zip."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise UnsafeFormat(f"{name} has {len(infos)} members, more than the limit of {max_members}")
    total = 0
    for info in infos:
        size = info.file_size
        if size > RATIO_FLOOR_BYTES and size > max_ratio * max(info.compress_size, 1):
            raise UnsafeFormat(
                f"{name}: member {info.filename[:100]!r} expands {size} bytes from {info.compress_size}, "
                f"more than {max_ratio} times",
                hint="store the archive uncompressed or with ordinary compression",
            )
        total += size
    if total > max_total_bytes:
        raise UnsafeFormat(f"{name} would expand to {total} bytes, more than the limit of {max_total_bytes}")
    if total > RATIO_FLOOR_BYTES and total > max_ratio * max(archive_bytes, 1):
        raise UnsafeFormat(
            f"{name} would expand to {total} bytes from {archive_bytes}, more than {max_ratio} times",
            hint="store the archive uncompressed or with ordinary compression",
        )


def declared_members(archive: Path) -> int | None:
    """The entry count a zip's end record states (None if it has none), without parsing
    its central directory."""
    try:
        with archive.open("rb") as fp:
            return _declared_entries(fp)
    except OSError:
        return None


def _declared_entries(fp: IO[bytes]) -> int | None:
    # The end-of-central-directory record (zip64 aware) states the entry count; reading it
    # costs one seek, where ZipFile() would build an object per entry first.
    end_record = getattr(zipfile, "_EndRecData", None)
    index = getattr(zipfile, "_ECD_ENTRIES_TOTAL", None)
    if end_record is None or index is None:
        return None
    record = end_record(fp)
    if record is None:
        return None
    return int(record[index])


def _extract_zip(archive: Path, root: Path, max_members: int, max_total_bytes: int) -> list[Path]:
    try:
        with open_zip(archive, max_members=max_members, max_total_bytes=max_total_bytes) as zf:
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
            for member in _bounded(tf, archive.stat().st_size, max_members, max_total_bytes):
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


def _bounded(
    tf: tarfile.TarFile, archive_bytes: int, max_members: int, max_total_bytes: int
) -> Iterator[tarfile.TarInfo]:
    # Iterating a tar reads headers one by one (and decompresses past each member's data to
    # reach the next): stop at the first header that passes a limit instead of indexing a bomb.
    declared = 0
    for count, member in enumerate(tf, start=1):
        if count > max_members:
            raise UnsafeFormat(f"archive has more than {max_members} members")
        declared += max(member.size, 0)
        if declared > max_total_bytes:
            raise UnsafeFormat(f"archive would extract to more than the limit of {max_total_bytes} bytes")
        if declared > RATIO_FLOOR_BYTES and declared > DEFAULT_MAX_RATIO * max(archive_bytes, 1):
            raise UnsafeFormat(
                f"archive would extract to over {declared} bytes from {archive_bytes}, "
                f"more than {DEFAULT_MAX_RATIO} times",
                hint="store the archive uncompressed or with ordinary compression",
            )
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
