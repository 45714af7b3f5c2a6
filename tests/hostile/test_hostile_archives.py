"""Archive bombs (zip and tar.gz) are refused from their declared sizes and compression
ratio before anything is extracted; error bodies never name a server path."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from hostile_files import zip_bomb

from shipyard.errors import ModelRejected, UnsafeFormat, redact_paths
from shipyard.fs import archives
from shipyard.fs.archives import open_zip, safe_extract


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", uncompressed=64 << 20)
    with pytest.raises(UnsafeFormat, match="more than 100 times"):
        safe_extract(bomb, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))


def test_many_small_members_are_refused_by_the_total_ratio(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", uncompressed=64 << 20, members=64)  # 1 MB each, under the floor
    with pytest.raises(UnsafeFormat, match="would expand"):
        safe_extract(bomb, tmp_path / "out")


def test_a_tar_gz_bomb_is_refused_while_reading_headers(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=9) as tf:
        for index in range(3):
            info = tarfile.TarInfo(f"pkg/data{index}.bin")
            info.size = 64 << 20
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    assert path.stat().st_size < 1 << 20
    t0 = time.perf_counter()
    with pytest.raises(UnsafeFormat, match="more than 100 times"):
        safe_extract(path, tmp_path / "out")
    assert time.perf_counter() - t0 < 5
    assert not any((tmp_path / "out").rglob("*"))


def test_the_member_count_is_read_before_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for index in range(50):
            zf.writestr(f"f{index}", b"")

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the central directory was parsed")

    monkeypatch.setattr(archives.zipfile, "ZipFile", no_parse)
    with pytest.raises(UnsafeFormat, match="50 members"):
        open_zip(path, max_members=10)


def test_small_highly_compressible_members_still_extract(tmp_path: Path) -> None:
    path = tmp_path / "ok.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(1 << 20))  # ~1000:1, but only a megabyte
    written = safe_extract(path, tmp_path / "out")
    assert [p.name for p in written] == ["zeros.bin"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Opening /tmp/shipyard-upload-x1/model.json failed", "Opening model.json failed"),
        ("[Errno 2] No such file or directory: '/root/.shipyard/artifacts/ab/cd'", "directory: 'cd'"),
        ("cannot write to the artifact store at /srv/home/artifacts: denied", "store at artifacts: denied"),
        ("no route for POST /v2/models/x/infer", "no route for POST /v2/models/x/infer"),
        ("send it to /api/models/NAME/versions", "send it to /api/models/NAME/versions"),
        ("1/2 of the rows, a/b relative", "1/2 of the rows, a/b relative"),
        ("http://127.0.0.1:8080/v2/models", "http://127.0.0.1:8080/v2/models"),
    ],
)
def test_absolute_paths_are_reduced_to_names(text: str, expected: str) -> None:
    assert expected in redact_paths(text)
    assert "/root" not in redact_paths(text) and "/tmp" not in redact_paths(text)


def test_error_bodies_are_redacted() -> None:
    body = ModelRejected("could not load /srv/shipyard/tmp/upload-1/model.skops", hint="see /etc/shipyard").to_dict()
    assert body == {"error": "could not load model.skops", "code": "model_rejected", "hint": "see shipyard"}


def _package_with(tmp_path: Path, member: str, data_size: int) -> Path:
    from shipyard.flavors import pyclass_package

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        if member != pyclass_package.MANIFEST:
            zf.writestr(pyclass_package.MANIFEST, '{"entry": "model:Model"}')
        zf.writestr(
            f"{pyclass_package.CODE_DIR}/model.py", "class Model:\n    def predict(self, X):\n        return X\n"
        )
        with zf.open(member, "w", force_zip64=True) as out:
            for _ in range(data_size >> 20):
                out.write(bytes(1 << 20))
    return path


@pytest.mark.parametrize("member", ["MANIFEST", "artifacts/weights.bin"])
def test_a_python_package_bomb_is_refused_before_its_manifest_is_read(member: str, tmp_path: Path) -> None:
    from shipyard.flavors import pyclass_package
    from shipyard.flavors.base import LoadOptions
    from shipyard.flavors.pyclass import PyClassFlavor

    name = pyclass_package.MANIFEST if member == "MANIFEST" else member
    path = _package_with(tmp_path, name, 64 << 20)
    with pytest.raises(UnsafeFormat, match="more than 100 times"):
        PyClassFlavor().load(path, LoadOptions(trust_code=True, metadata={"entry": "model:Model"}))
