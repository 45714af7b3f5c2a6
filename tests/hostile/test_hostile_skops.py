"""skops: only exact, listed types load; crafted schemas and bombs are refused before skops reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import skops.io
from hostile_files import function_node, skops_bomb, skops_calling, snapshot_tree, write_skops

from homes import open_home
from shipyard.errors import ModelLoadError, ModelRejected, UnsafeFormat
from shipyard.flavors import skops_trust
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.sklearn import SklearnFlavor

REFUSED = (UnsafeFormat, ModelRejected)


def test_the_crafted_memmap_file_is_a_real_attack(tmp_path: Path, precious: Path) -> None:
    # Proof that the file below does what the issue says when its type is trusted.
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"abcdefgh")
    path = skops_calling(tmp_path / "m.skops", "numpy", "memmap", str(victim), "uint8", "w+", 0, 4)
    skops.io.load(path, trusted=["numpy.memmap"])
    assert victim.read_bytes() == bytes(4)


@pytest.mark.parametrize(
    ("module", "name", "args"),
    [
        ("numpy", "memmap", ("{target}", "uint8", "w+", 0, 4)),
        ("numpy", "load", ("{target}",)),
        ("numpy", "fromfile", ("{target}",)),
        ("numpy", "save", ("{target}", 0)),
        ("numpy", "loadtxt", ("{target}",)),
        ("os", "system", ("rm {target}",)),
        ("os", "remove", ("{target}",)),
        ("posix", "remove", ("{target}",)),
        ("io", "open", ("{target}", "w")),
        ("builtins", "open", ("{target}", "w")),
        ("builtins", "eval", ("__import__('os').remove({target!r})",)),
        ("builtins", "exec", ("import os; os.remove({target!r})",)),
        ("subprocess", "getoutput", ("rm {target}",)),
        ("shutil", "rmtree", ("{target}",)),
        ("pathlib", "Path", ("{target}",)),
        ("scipy.io", "loadmat", ("{target}",)),
        ("numpy.lib.format", "open_memmap", ("{target}", "w+")),
        ("numpy.testing", "assert_", (True,)),
        ("sklearn.utils", "_safe_indexing", (1, 1)),
        ("sklearn.datasets", "fetch_openml", ("x",)),
        ("sklearn.datasets", "dump_svmlight_file", ("{target}",)),
    ],
)
def test_calls_outside_the_allowlist_are_refused(
    module: str, name: str, args: tuple[object, ...], tmp_path: Path, precious: Path
) -> None:
    before = precious.read_bytes()
    real_args = [a.format(target=str(precious)) if isinstance(a, str) else a for a in args]
    path = skops_calling(tmp_path / "evil.skops", module, name, *real_args)
    with pytest.raises(REFUSED) as info:
        SklearnFlavor().load(path, LoadOptions())
    assert f"{module}.{name}" in info.value.message
    assert precious.read_bytes() == before
    assert SklearnFlavor().required_trust(path) == (f"{module}.{name}",)


@pytest.mark.parametrize(
    "name", ["numpy.memmap", "numpy.load", "builtins.eval", "os.system", "numpy.ctypeslib.load_library"]
)
def test_dangerous_names_are_not_on_the_list(name: str) -> None:
    assert not skops_trust.is_allowlisted(name)


def test_functions_held_as_values_are_refused(tmp_path: Path) -> None:
    root = {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [function_node("numpy", "load"), function_node("os", "system")],
        "__id__": 1,
    }
    path = write_skops(tmp_path / "f.skops", root)
    with pytest.raises(UnsafeFormat) as info:
        SklearnFlavor().load(path, LoadOptions())
    assert "numpy.load" in info.value.message and "os.system" in info.value.message


def test_the_allowlist_is_exact_names_built_from_sklearn() -> None:
    names = skops_trust.allowlist()
    assert "sklearn.linear_model._logistic.LogisticRegression" in names
    assert "sklearn.tree._tree.Tree" in names
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in names
    assert "sklearn.neighbors._kd_tree.KDTree" in names
    assert "scipy.sparse._csr.csr_matrix" in names
    assert not any("memmap" in n for n in names)
    # Module-wide prefixes are gone: a made-up class under sklearn is not trusted.
    assert not skops_trust.is_allowlisted("sklearn.Evil")
    assert not skops_trust.is_allowlisted("numpy.lib.npyio.load")


def test_a_memmap_registration_is_refused_and_nothing_changes(tmp_path: Path, precious: Path) -> None:
    home = tmp_path / "home"
    services = open_home(home)
    try:
        before = snapshot_tree(home)
        path = skops_calling(tmp_path / "model.skops", "numpy", "memmap", str(precious), "uint8", "w+", 0, 4)
        with pytest.raises(REFUSED):
            services.registry.register("evil", path, flavor="sklearn", sample=np.zeros((1, 2)))
        assert snapshot_tree(home) == before
        assert services.store.list_models() == []
    finally:
        services.close()
    assert precious.read_bytes() == b"precious data, do not touch"


def test_an_skops_bomb_is_refused_by_its_declared_sizes(tmp_path: Path) -> None:
    path = skops_bomb(tmp_path / "bomb.skops", uncompressed=64 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeFormat, match="more than 100 times"):
        SklearnFlavor().load(path, LoadOptions())


def test_an_skops_file_with_too_many_members_is_refused_before_its_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skops_trust, "MAX_MEMBERS", 10)
    root = {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": [], "__id__": 1}
    path = write_skops(tmp_path / "many.skops", root, extra={f"{i}.npy": b"" for i in range(20)})
    with pytest.raises(UnsafeFormat, match="members"):
        SklearnFlavor().load(path, LoadOptions())


def test_a_deeply_nested_schema_is_refused_not_a_crash(tmp_path: Path) -> None:
    import zipfile

    opening = '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    depth = 100_000
    schema = opening * depth + "]}" * depth
    path = tmp_path / "deep.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", schema)
    with pytest.raises(ModelLoadError, match="not a readable skops file"):
        SklearnFlavor().load(path, LoadOptions())


RSS_PROBE = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from shipyard.flavors.base import LoadOptions
    from shipyard.flavors.sklearn import SklearnFlavor
    from shipyard.fs.archives import safe_extract
    from shipyard.errors import ShipyardError
    import skops.io  # imported before the baseline: its import is not the bomb's doing
    from shipyard.flavors import skops_trust
    skops_trust.allowlist()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kind, path = sys.argv[1], Path(sys.argv[2])
    try:
        if kind == "skops":
            SklearnFlavor().load(path, LoadOptions())
        else:
            safe_extract(path, path.parent / "out")
        outcome = "loaded"
    except ShipyardError as exc:
        outcome = type(exc).__name__
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(outcome, (peak - base) // 1024)
    """
)


@pytest.mark.parametrize("kind", ["skops", "zip"])
def test_bombs_keep_memory_flat(kind: str, tmp_path: Path) -> None:
    from hostile_files import zip_bomb

    if kind == "skops":
        path = skops_bomb(tmp_path / "bomb.skops", uncompressed=800 << 20)
    else:
        path = zip_bomb(tmp_path / "bomb.zip", uncompressed=800 << 20, members=4)
    assert path.stat().st_size < 2 << 20
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, kind, str(path)], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    outcome, grown_mb = out[0], int(out[1])
    print(f"{kind} bomb of {path.stat().st_size} bytes: {outcome}, RSS grew {grown_mb} MB")
    assert outcome == "UnsafeFormat"
    assert grown_mb < 200
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
