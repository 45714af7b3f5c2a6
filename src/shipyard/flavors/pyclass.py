"""Python-class models: a class with ``predict``, its code stored with the version.

Loading imports the stored code, so it happens only when the registrant marked the version
trusted (``LoadOptions.trust_code``). The package is extracted with ``safe_extract`` into
a private temporary directory that lives as long as the loaded model, and imported as a
uniquely named package, so two versions of ``model.py`` never meet in ``sys.modules``.
The package's own modules should import each other relatively (``from . import x``);
absolute sibling imports work while the entry module is first imported.

Optional manifest keys: ``outputs`` (a list of field specs; default one float64
``predict``) and ``thread_safe`` (default false: calls are serialised).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import threading
import types
import uuid
import weakref
import zipfile
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError, UnsafeFormat, UnsupportedFormat
from shipyard.flavors import pyclass_package as package_format
from shipyard.flavors.base import Flavor, LoadOptions, SavedModel
from shipyard.flavors.python_object import DEFAULT_OUTPUTS, PythonObjectModel
from shipyard.fs.archives import DEFAULT_MAX_MEMBERS, declared_members, open_zip, safe_extract
from shipyard.fs.scratch import temporary_directory
from shipyard.schema.signature import FieldSpec

logger = logging.getLogger(__name__)

_PREFIX = "_shipyard_model_"
# sys.path and sys.modules are process-wide; imports of stored code take turns.
_IMPORT_LOCK = threading.Lock()


class PyClassFlavor(Flavor):
    """A zip of Python code plus a manifest naming the ``module:Class`` to serve."""

    name = "python"

    def sniff(self, head: bytes, path: Path) -> bool:
        if not head.startswith(b"PK\x03\x04"):
            return False
        declared = declared_members(path)
        if declared is not None and declared > DEFAULT_MAX_MEMBERS:
            return False
        try:
            with zipfile.ZipFile(path) as zf:
                return package_format.MANIFEST in zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return False

    def can_save(self, obj: Any) -> bool:
        return callable(getattr(obj, "predict", None)) and not isinstance(obj, type)

    def package(
        self, src: Path, dest_dir: Path, entry: str | None = None, *, artifacts: Path | None = None
    ) -> SavedModel:
        """Package a ``.py`` file or a directory. ``artifacts`` defaults to the directory's
        ``artifacts/`` subdirectory. The entry is found by parsing when not given."""
        files = package_format.code_files(src)
        entry = entry or package_format.find_entry(files)
        package_format.check_entry(entry, files)
        if artifacts is None and src.is_dir() and (src / package_format.ARTIFACTS_DIR).is_dir():
            artifacts = src / package_format.ARTIFACTS_DIR
        path = package_format.write_package(dest_dir / package_format.FILENAME, entry, files, artifacts)
        return SavedModel(path=path, flavor=self.name, metadata={"entry": entry})

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        """Store the source file of the object's class. Only the code is kept: loading
        re-creates the object with no arguments and calls ``load_context`` if defined."""
        cls = type(obj)
        try:
            source = inspect.getsourcefile(cls)
        except TypeError:
            source = None
        if source is None or not source.endswith(".py"):
            raise UnsupportedFormat(
                f"cannot find the source file of {cls.__qualname__}",
                hint="define the class in a .py file, or package it with PyClassFlavor.package",
            )
        if "." in cls.__qualname__:
            raise UnsupportedFormat(f"{cls.__qualname__} is not a top-level class; it cannot be re-created")
        return self.package(Path(source), dest_dir, f"{Path(source).stem}:{cls.__name__}")

    def load(self, path: Path, options: LoadOptions) -> PythonObjectModel:
        if not options.trust_code:
            raise UnsafeFormat(
                f"{path.name} is a Python-class model; loading it imports and runs its code",
                hint="re-register with --trust-code only if you trust its source",
            )
        try:
            # Bounds first (count, sizes, ratio): the manifest is read into memory.
            with open_zip(path) as zf:
                manifest = package_format.read_manifest(zf)
        except zipfile.BadZipFile as exc:
            raise UnsupportedFormat(f"{path.name} is not a model package: {exc}") from exc
        outputs = _outputs(manifest)
        workdir = temporary_directory(options.scratch, "pyclass")
        try:
            root = Path(workdir.name)
            safe_extract(path, root)
            # load_context always gets a directory, even when nothing was packaged into it.
            (root / package_format.ARTIFACTS_DIR).mkdir(exist_ok=True)
            package_name = f"{_PREFIX}{uuid.uuid4().hex}"
            cls = _import_entry(root / package_format.CODE_DIR, package_name, str(manifest["entry"]))
            obj = _instantiate(cls, root / package_format.ARTIFACTS_DIR)
        except BaseException:
            workdir.cleanup()
            raise
        model = PythonObjectModel(
            obj, outputs=outputs, thread_safe=bool(manifest.get("thread_safe", False)), keepalive=workdir
        )
        weakref.finalize(model, _forget_package, package_name)
        logger.info("loaded Python-class model %s from %s", manifest["entry"], path)
        return model


def _outputs(manifest: dict[str, Any]) -> tuple[FieldSpec, ...]:
    declared = manifest.get("outputs")
    if declared is None:
        return DEFAULT_OUTPUTS
    if not isinstance(declared, list):
        raise UnsupportedFormat("the manifest's outputs must be a list of field specs")
    return tuple(FieldSpec.from_dict(spec) for spec in declared)


def _import_entry(code_dir: Path, package_name: str, entry: str) -> type:
    module_path, class_name = entry.split(":")
    package = types.ModuleType(package_name)
    package.__path__ = [str(code_dir)]
    with _IMPORT_LOCK:
        before = set(sys.modules)
        sys.modules[package_name] = package
        sys.path.insert(0, str(code_dir))
        try:
            module = importlib.import_module(f"{package_name}.{module_path}")
        except (Exception, SystemExit) as exc:
            # A model's code calling sys.exit must not take the server down with it.
            _forget_package(package_name)
            raise ModelLoadError(f"importing the model's code failed: {exc!r}") from exc
        finally:
            sys.path.remove(str(code_dir))
            # Siblings imported by absolute name would shadow other models' modules.
            for name in set(sys.modules) - before:
                if not name.startswith(package_name) and _is_under(sys.modules[name], code_dir):
                    del sys.modules[name]
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ModelLoadError(f"{module_path} has no class {class_name!r}")
    return cls


def _is_under(module: types.ModuleType, root: Path) -> bool:
    location = getattr(module, "__file__", None)
    return location is not None and Path(location).resolve().is_relative_to(root.resolve())


def _instantiate(cls: type, artifacts_dir: Path) -> Any:
    try:
        obj = cls()
        if callable(getattr(obj, "load_context", None)):
            obj.load_context(artifacts_dir)
    except (Exception, SystemExit) as exc:
        raise ModelLoadError(f"creating {cls.__name__} failed: {exc!r}") from exc
    return obj


def _forget_package(package_name: str) -> None:
    for name in [n for n in sys.modules if n == package_name or n.startswith(package_name + ".")]:
        sys.modules.pop(name, None)
