"""The project's one restricted unpickler and its one allow-list.

Every pickle a user hands actionzoo (a Caffe2 ``.pkl`` checkpoint, a person-proposal pickle, the
object stream inside a torch checkpoint) is read through the globals listed in :data:`ALLOWED`
and nothing else, unless the user opts out with ``--trust-checkpoint`` / ``trusted=True``.

Why each allowed global is safe: a pickle can only call what ``find_class`` hands it. Every entry
below is a constructor of plain data (containers, numbers, strings, numpy arrays and dtypes) or a
wrapper that checks its arguments; none of them calls, imports or looks up anything named by the
file. Two entries are wrapped because the library function would be too general:

* ``_codecs.encode`` (how Python 3 writes ``bytes`` into protocol-2 pickles) would accept any codec
  name, and codec lookup imports modules; the wrapper encodes ``str`` as Latin-1 only.
* ``collections.defaultdict`` stores a factory and calls it on a missing key later; the wrapper
  returns a plain ``dict`` and drops the factory.
* ``numpy...._reconstruct`` is called with a class from the file; the wrapper admits ``ndarray``
  only.

Container sniffing never unpickles: :func:`is_legacy_torch_file` compares bytes.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = [
    "ALLOWED",
    "RefusedGlobal",
    "RestrictedUnpickler",
    "restricted_load",
    "is_legacy_torch_file",
    "torch_safe_globals",
]


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside :data:`ALLOWED`; ``name`` is ``module.qualname``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedGlobal(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _plain_dict(*_factory: object) -> dict:
    return {}


def _numpy_multiarray() -> object:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


_MULTIARRAY = _numpy_multiarray()


def _reconstruct_ndarray(subtype: object, *args: object) -> np.ndarray:
    if subtype is not np.ndarray:
        raise RefusedGlobal(f"numpy array subclass {subtype!r}")
    return _MULTIARRAY._reconstruct(subtype, *args)  # type: ignore[attr-defined]


def _frombuffer(*args: object) -> np.ndarray:
    try:
        from numpy._core.numeric import _frombuffer as numpy_frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.numeric import _frombuffer as numpy_frombuffer
    return numpy_frombuffer(*args)


def _allowed() -> dict[tuple[str, str], Callable[..., object] | type]:
    table: dict[tuple[str, str], Callable[..., object] | type] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "defaultdict"): _plain_dict,
    }
    # numpy 1.x pickles name numpy.core, numpy 2.x numpy._core; files of both kinds exist.
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = _reconstruct_ndarray
        table[(f"{package}.multiarray", "scalar")] = _MULTIARRAY.scalar  # type: ignore[attr-defined]
        table[(f"{package}.numeric", "_frombuffer")] = _frombuffer
    for name in dir(np.dtypes):
        cls = getattr(np.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            table[("numpy.dtypes", name)] = cls
    for plain in (list, dict, tuple, set, frozenset, int, float, complex, bool, str, bytes, bytearray):
        table[("builtins", plain.__name__)] = plain
    return table


#: ``(module, name)`` -> the object a pickle gets for it. Nothing else can be named.
ALLOWED: dict[tuple[str, str], Callable[..., object] | type] = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED` globals and no persistent ids; anything else raises
    :class:`RefusedGlobal` before it is called."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> object:
        # Protocol-2 files written by Python 2 use its names (__builtin__, copy_reg ...).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        value = ALLOWED.get((module, name))
        if value is None:
            raise RefusedGlobal(f"{module}.{name}")
        return value

    def persistent_load(self, pid: object) -> object:
        raise RefusedGlobal("a persistent id (external object reference)")


def restricted_load(path: str | Path) -> object:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    Raises :class:`RefusedGlobal` for a forbidden global, ``OSError`` for an unreadable file and
    whatever the unpickler raises for a malformed stream.
    """
    with open(path, "rb") as f:
        return RestrictedUnpickler(f).load()


# A torch.save file from before the zip format (torch < 1.6, or _use_new_zipfile_serialization=False)
# starts with this magic number pickled on its own: PROTO 2, LONG1 of 10 bytes, STOP.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LONG1, _FRAME, _STOP = 0x8A, 0x95, 0x2E


def is_legacy_torch_file(path: str | Path) -> bool:
    """Whether ``path`` starts with the pickled legacy torch magic number, by its bytes alone.

    Accepts the header as any pickle protocol >= 2 writes it (protocols 4 and 5 put an 8-byte
    FRAME opcode before the number).
    """
    with open(path, "rb") as f:
        head = f.read(32)
    if len(head) < 2 or head[0] != 0x80 or head[1] < 2:
        return False
    pos = 2
    if head[1] >= 4 and len(head) > pos and head[pos] == _FRAME:
        pos += 9
    if head[pos : pos + 2] != bytes([_LONG1, 10]):
        return False
    number = int.from_bytes(head[pos + 2 : pos + 12], "little", signed=True)
    return number == _TORCH_LEGACY_MAGIC and head[pos + 12 : pos + 13] == bytes([_STOP])


def torch_safe_globals() -> list[tuple[Callable[..., object] | type, str]]:
    """:data:`ALLOWED` in the form ``torch.serialization.safe_globals`` takes, for
    ``torch.load(weights_only=True)``: torch's own allow-list plus exactly these."""
    return [(value, f"{module}.{name}") for (module, name), value in ALLOWED.items()
            if module != "builtins"]
