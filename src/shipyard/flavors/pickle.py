"""Pickle and joblib files: recognised, and refused unless the registrant trusted them.

Unpickling runs whatever code the file names, so recognising one must never unpickle it:
``sniff`` reads only magic bytes, and for joblib's compressed files decompresses just
enough bytes to see a pickle header inside. Loading requires ``trust_pickle``.
"""

from __future__ import annotations

import bz2
import importlib.util
import logging
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError, UnsafeFormat
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions
from shipyard.flavors.python_object import PythonObjectModel

logger = logging.getLogger(__name__)

PICKLE_PROTOCOLS = frozenset({2, 3, 4, 5})
_PROTO = 0x80
_PEEK = 16

REFUSAL = (
    "{name} is a pickle file; loading it runs arbitrary code from the file",
    "re-register with --trust-pickle only if you trust its source, or save the model with skops",
)


def is_pickle_header(data: bytes) -> bool:
    """A pickle of protocol 2 to 5 starts with the PROTO opcode and its version."""
    return len(data) >= 2 and data[0] == _PROTO and data[1] in PICKLE_PROTOCOLS


def _peek_zlib(data: bytes, wbits: int) -> bytes:
    return zlib.decompressobj(wbits).decompress(data, _PEEK)


def _peek_bz2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, max_length=_PEEK)


def _peek_lzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data, max_length=_PEEK)


def _peek_lz4(data: bytes) -> bytes:
    # lz4 is optional for joblib; without it the frame cannot be looked into, so treat
    # the magic alone as enough: mistaking some other lz4 file for a pickle only ever
    # makes it refused, never run.
    if importlib.util.find_spec("lz4") is None:
        return bytes([_PROTO, 4])
    import lz4.frame  # type: ignore[import-not-found,unused-ignore]

    with lz4.frame.LZ4FrameDecompressor() as decompressor:
        peeked: bytes = decompressor.decompress(data, max_length=_PEEK)
    return peeked


# joblib's compressors, by the magic bytes their streams start with.
_COMPRESSED: tuple[tuple[bytes, Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", lambda d: _peek_zlib(d, 31)),
    (b"BZh", _peek_bz2),
    (b"\xfd7zXZ\x00", _peek_lzma),
    (b"]\x00\x00", _peek_lzma),
    (b"\x04\x22\x4d\x18", _peek_lz4),
    (b"\x78\x01", lambda d: _peek_zlib(d, 15)),
    (b"\x78\x5e", lambda d: _peek_zlib(d, 15)),
    (b"\x78\x9c", lambda d: _peek_zlib(d, 15)),
    (b"\x78\xda", lambda d: _peek_zlib(d, 15)),
)


def is_pickle_or_joblib(head: bytes) -> bool:
    """True for a pickle, or a joblib file compressed with zlib, gzip, bz2, xz/lzma or lz4
    whose decompressed stream starts with a pickle header. Nothing is unpickled."""
    if is_pickle_header(head):
        return True
    for magic, peek in _COMPRESSED:
        if head.startswith(magic):
            try:
                return is_pickle_header(peek(head))
            except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, RuntimeError):
                return False
    return False


class PickleFlavor(Flavor):
    """Pickle and joblib files; loading needs ``LoadOptions.trust_pickle``."""

    name = "pickle"
    unsafe = True

    def sniff(self, head: bytes, path: Path) -> bool:
        return is_pickle_or_joblib(head)

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        if not options.trust_pickle:
            message, hint = REFUSAL
            raise UnsafeFormat(message.format(name=path.name), hint=hint)
        import joblib

        logger.warning("unpickling %s because its registrant trusted it", path)
        try:
            obj = joblib.load(path)
        except Exception as exc:
            raise ModelLoadError(f"could not unpickle {path.name}: {exc}") from exc
        return wrap_object(obj, path.name)


def wrap_object(obj: Any, source: str) -> LoadedModel:
    """The loaded model for an unpickled object: scikit-learn-compatible estimators get
    the scikit-learn outputs (labels and probabilities), anything else with ``predict``
    is served as a Python object."""
    if any(c.__name__ == "BaseEstimator" and c.__module__.startswith("sklearn.") for c in type(obj).__mro__):
        from shipyard.flavors.sklearn import SklearnModel

        return SklearnModel(obj)
    if not callable(getattr(obj, "predict", None)):
        raise ModelLoadError(f"{source} holds a {type(obj).__name__}, which has no predict method")
    return PickledObjectModel(obj)


class PickledObjectModel(PythonObjectModel):
    flavor = "pickle"
