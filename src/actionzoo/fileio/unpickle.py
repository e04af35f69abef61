"""The project's one restricted unpickler and its one allow-list.

Every pickle a user hands actionzoo (a Caffe2 ``.pkl`` checkpoint, a person-proposal pickle, the
object stream inside a torch checkpoint) is read through the globals listed in :data:`ALLOWED`
(plus, in torch files, the tensor builders of :data:`TORCH_ALLOWED`) and nothing else, unless the
user opts out with ``--trust-checkpoint`` / ``trusted=True``.

A pickle can only call what ``find_class`` hands it, and BUILD hands a file-chosen state to that
object's ``__setstate__``. So every entry is either a constructor of plain data or a wrapper that
checks its arguments, and no entry hands BUILD a ``__setstate__`` that trusts its state:

* numpy objects are rebuilt from a checked description. ``numpy.dtype`` gives a
  :class:`PickledDtype` that admits the builtin numeric dtype codes of :data:`DTYPE_CODES` only
  (no fields, sub-arrays, object or void dtypes) and a state that describes exactly that dtype;
  ``numpy.ndarray`` is :class:`PickledArray`, whose ``__setstate__`` admits a shape of at most
  :data:`MAX_NDIM` dimensions and a raw buffer exactly ``nbytes`` long, once; numpy's scalar and
  ``_frombuffer`` helpers are wrapped the same way. numpy's own ``dtype.__setstate__`` and
  ``ndarray.__new__`` are never reachable: they trust their arguments.
* ``_codecs.encode`` (how Python 3 writes ``bytes`` into protocol-2 pickles) encodes ``str`` as
  Latin-1 only; codec lookup would import modules, and some codecs are quadratic.
* ``bytes`` / ``bytearray`` / ``str`` refuse sizes and codec names (``bytearray(10**9)`` is a
  gigabyte from a 50-byte file).
* ``collections.defaultdict`` returns a plain ``dict`` and drops the factory.

Before any unpickler runs, :func:`actionzoo.fileio.pickle_scan.scan_pickle` refuses streams nested
too deeply, with absurd memo indices or lengths; after it, :func:`check_structure` checks what was
built (depth, object count, no cycles, tensors no larger than the bytes behind them).

Container sniffing never unpickles: :func:`is_legacy_torch_file` compares bytes.
"""

from __future__ import annotations

import _compat_pickle
import io
import math
import mmap
import pickle
import types
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from actionzoo.fileio.display import escape as _escape
from actionzoo.fileio.display import shown
from actionzoo.fileio.pickle_scan import MAX_DEPTH, UnsafePickle, scan_pickle

__all__ = [
    "ALLOWED",
    "DTYPE_CODES",
    "MAX_DEPTH",
    "MAX_NDIM",
    "MAX_OBJECTS",
    "PickledArray",
    "PickledDtype",
    "RefusedGlobal",
    "RestrictedUnpickler",
    "TORCH_ALLOWED",
    "UnsafePickle",
    "check_structure",
    "is_legacy_torch_file",
    "restricted_load",
    "torch_pickle_module",
]

#: The numpy dtype codes a pickle may name: booleans, integers, floats and complex numbers.
DTYPE_CODES = frozenset(
    {"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16"}
)
#: Most dimensions of an array from a file (numpy allows 64; weights have at most 5).
MAX_NDIM = 16
#: Most objects (container entries) a file may build: far above any checkpoint or proposal file.
MAX_OBJECTS = 5_000_000


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list, or calls an allowed one with arguments
    it refuses; ``name`` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_args(what: str) -> RefusedGlobal:
    return RefusedGlobal(what)


# ------------------------------------------------------------------------ numpy, rebuilt checked


class PickledDtype:
    """What ``numpy.dtype(code, align, copy)`` + BUILD yields in a pickle: a checked builtin dtype.

    numpy's own ``dtype.__setstate__`` believes any state (a sub-array of N items with an 8-byte
    itemsize, an object field with flags 0), so the file never reaches it: this class keeps the
    dtype numpy builds from the code alone, and its ``__setstate__`` only accepts the state that
    numpy writes for that very dtype (which can choose the byte order, nothing else)."""

    __slots__ = ("dtype", "_built")

    def __init__(self, code: object, align: object = False, copy: object = True) -> None:
        if type(code) is not str or code not in DTYPE_CODES:
            raise _refuse_args(f"numpy.dtype {_short(code)} (only builtin numeric dtypes load)")
        if align not in (False, 0) or copy not in (True, False, 0, 1):
            raise _refuse_args("numpy.dtype with unexpected arguments")
        self.dtype = np.dtype(code).newbyteorder("<") if code not in ("b1", "i1", "u1") \
            else np.dtype(code)
        self._built = False

    def __setstate__(self, state: object) -> None:
        if self._built:
            raise _refuse_args("numpy.dtype state set twice")
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
            raise _refuse_args("numpy.dtype with an unexpected state")
        _, order, subarray, names, fields, elsize, alignment, flags = state[:8]
        extra = state[8:]
        if (subarray is not None or names is not None or fields is not None
                or any(x is not None for x in extra)):
            raise _refuse_args("numpy.dtype with fields or sub-arrays")
        if (elsize not in (-1, self.dtype.itemsize) or alignment not in (-1, self.dtype.alignment)
                or flags != 0 or order not in ("<", ">", "|", "=")):
            raise _refuse_args("numpy.dtype with a state that does not match its code")
        if order in ("<", ">") and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(order)
        self._built = True


def _as_dtype(value: object) -> np.dtype:
    if type(value) is PickledDtype:
        return value.dtype
    # A real dtype never comes from a file (numpy.dtype resolves to PickledDtype), but arrays
    # that actionzoo itself pickles between processes carry one: the same codes only.
    if isinstance(value, np.dtype) and value.fields is None and value.subdtype is None and \
            value.str[1:] in DTYPE_CODES:
        return value
    raise _refuse_args(f"a numpy object whose dtype is {_short(value)}")


def _as_raw(value: object) -> bytes:
    if isinstance(value, str):  # Python 2 pickles (read as Latin-1) hold raw data as str
        try:
            return value.encode("latin1")
        except UnicodeEncodeError:
            raise _refuse_args("numpy raw data that is not Latin-1 text") from None
    if type(value) in (bytes, bytearray):
        return value  # type: ignore[return-value]
    raise _refuse_args(f"numpy raw data of type {type(value).__name__}")


def _as_shape(value: object) -> tuple[int, ...]:
    if not isinstance(value, tuple) or len(value) > MAX_NDIM or not all(
        type(d) is int and d >= 0 for d in value
    ):
        raise _refuse_args(f"a numpy shape that is not up to {MAX_NDIM} sizes >= 0")
    return value


class PickledArray(np.ndarray):
    """What ``numpy.ndarray`` names in a pickle. Only :func:`_reconstruct` creates one (empty);
    its ``__setstate__`` then admits one state: a shape, a checked dtype and a raw buffer of
    exactly ``nbytes`` bytes. Calling the class (``ndarray(shape, dtype, buffer, ...)``) is
    refused: it allocates file-chosen sizes."""

    def __new__(cls, *args: object, **kwargs: object) -> PickledArray:
        raise _refuse_args("numpy.ndarray called directly")

    def __reduce_ex__(self, protocol: object) -> object:
        # pickled again (a numpy RNG state read from a checkpoint, saved in the next one), it is
        # a plain ndarray: this class's name must never be written into a file
        return self.view(np.ndarray).__reduce_ex__(protocol)

    def __setstate__(self, state: object) -> None:
        if self.__dict__.get("_built"):
            raise _refuse_args("numpy array state set twice")
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise _refuse_args("numpy array with an unexpected state")
        shape, dtype, fortran, raw = state
        shape, dtype, raw = _as_shape(shape), _as_dtype(dtype), _as_raw(raw)
        if fortran not in (True, False, 0, 1):
            raise _refuse_args("numpy array with an unexpected order")
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise _refuse_args(f"numpy array of shape {shape} over {len(raw)} bytes")
        np.ndarray.__setstate__(self, (1, shape, dtype, bool(fortran), bytes(raw)))
        self.__dict__["_built"] = True


def _reconstruct(subtype: object, shape: object = (0,), typecode: object = b"b") -> PickledArray:
    if subtype is not PickledArray:
        raise _refuse_args(f"numpy array subclass {_short(subtype)}")
    return np.ndarray.__new__(PickledArray, (0,), np.uint8)


def _scalar(dtype: object, data: object = None) -> np.generic:
    real = _as_dtype(dtype)
    raw = _as_raw(data)
    if len(raw) != real.itemsize:
        raise _refuse_args(f"numpy scalar of {real} over {len(raw)} bytes")
    return np.frombuffer(raw, real)[0]


def _frombuffer(buffer: object, dtype: object, shape: object, order: object) -> np.ndarray:
    real, shape, raw = _as_dtype(dtype), _as_shape(shape), _as_raw(buffer)
    if order not in ("C", "F"):
        raise _refuse_args("numpy array with an unexpected order")
    if len(raw) != math.prod(shape) * real.itemsize:
        raise _refuse_args(f"numpy array of shape {shape} over {len(raw)} bytes")
    # A copy: the array owns its memory instead of viewing a buffer the file can share.
    return np.frombuffer(raw, real).reshape(shape, order=order).copy()


# ------------------------------------------------------------------------ plain data, checked


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedGlobal(f"_codecs.encode with encoding {_short(encoding)}")
    return text.encode("latin1")


def _no_sizes_or_codecs(kind: type) -> Callable[..., object]:
    def build(*args: object) -> object:
        if any(type(a) is int for a in args):
            raise _refuse_args(f"builtins.{kind.__name__} of a size (the file would choose it)")
        if len(args) > 1 and (kind is str or args[1] not in ("latin1", "latin-1")):
            raise _refuse_args(f"builtins.{kind.__name__} with a codec")
        return kind(*args)

    build.__name__ = kind.__name__
    return build


def _plain_dict(*_factory: object) -> dict:
    return {}


def _allowed() -> dict[tuple[str, str], Callable[..., object] | type]:
    table: dict[tuple[str, str], Callable[..., object] | type] = {
        ("numpy", "ndarray"): PickledArray,
        ("numpy", "dtype"): PickledDtype,
        ("_codecs", "encode"): _latin1_encode,
        ("collections", "OrderedDict"): OrderedDict,
        ("collections", "defaultdict"): _plain_dict,
    }
    # numpy 1.x pickles name numpy.core, numpy 2.x numpy._core; files of both kinds exist.
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = _reconstruct
        table[(f"{package}.multiarray", "scalar")] = _scalar
        table[(f"{package}.numeric", "_frombuffer")] = _frombuffer
    for plain in (list, dict, tuple, set, frozenset, int, float, complex, bool):
        table[("builtins", plain.__name__)] = plain
    for sized in (bytes, bytearray, str):
        table[("builtins", sized.__name__)] = _no_sizes_or_codecs(sized)
    return table


#: ``(module, name)`` -> the object a pickle gets for it. Nothing else can be named.
ALLOWED: dict[tuple[str, str], Callable[..., object] | type] = _allowed()


def _short(value: object, limit: int = 60) -> str:
    return shown(value, limit)


# ------------------------------------------------------------------------ after unpickling


def check_structure(obj: object) -> object:
    """Check what an unpickler built: no cycles, no deeper than :data:`MAX_DEPTH`, at most
    :data:`MAX_OBJECTS` entries, no object arrays, no tensor claiming more elements than the bytes
    behind it (a stride-0 view of a 4-byte storage can claim a million classes). Arrays rebuilt
    as :class:`PickledArray` are handed back as plain ``numpy.ndarray`` views in dicts and lists.
    Returns ``obj``. One pass, by identity, without recursion."""
    torch = _torch_if_loaded()
    heights: dict[int, int] = {}
    on_path: set[int] = set()
    count = 0
    stack: list[tuple[object, list[object]]] = [(obj, _children(obj))]
    on_path.add(id(obj))
    while stack:
        node, todo = stack[-1]
        if todo:
            child = todo.pop()
            count += 1
            if count > MAX_OBJECTS:
                raise UnsafePickle(f"more than {MAX_OBJECTS} objects")
            key = id(child)
            if key in on_path:
                raise UnsafePickle("a container holds itself (a cycle)")
            if key in heights:
                if len(stack) + heights[key] > MAX_DEPTH:
                    raise UnsafePickle(f"objects nested more than {MAX_DEPTH} deep")
                continue
            _check_leaf(child, torch)
            if len(stack) >= MAX_DEPTH:
                raise UnsafePickle(f"objects nested more than {MAX_DEPTH} deep")
            on_path.add(key)
            stack.append((child, _children(child)))
            continue
        stack.pop()
        on_path.discard(id(node))
        heights[id(node)] = 1 + max((heights.get(id(c), 0) for c in _children(node)), default=0)
        _plain_arrays(node)
    return obj


def _children(node: object) -> list[object]:
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    if isinstance(node, (list, tuple, set, frozenset)):
        return list(node)
    return []


def _plain_arrays(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if type(value) is PickledArray:
                node[key] = value.view(np.ndarray)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if type(value) is PickledArray:
                node[index] = value.view(np.ndarray)


def _torch_if_loaded() -> types.ModuleType | None:
    import sys

    return sys.modules.get("torch")


def _check_leaf(value: object, torch: types.ModuleType | None) -> None:
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        raise UnsafePickle("an object array")
    if torch is not None and isinstance(value, torch.Tensor):
        storage_bytes = value.untyped_storage().nbytes()
        if value.numel() * value.element_size() > storage_bytes:
            raise UnsafePickle(
                f"a tensor of shape {list(value.shape)} over {storage_bytes} bytes of storage"
            )
        if value._backward_hooks:
            raise UnsafePickle("a tensor with backward hooks")


# ------------------------------------------------------------------------ the unpicklers


class _AllowListUnpickler(pickle.Unpickler):
    table: dict[tuple[str, str], Callable[..., object] | type] = ALLOWED

    def __init__(self, file: BinaryIO, *, encoding: str = "latin1", **_ignored: object) -> None:
        super().__init__(file, encoding=encoding)

    def find_class(self, module: str, name: str) -> object:
        # Protocol-2 files written by Python 2 use its names (__builtin__, copy_reg ...).
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        value = self.table.get((module, name))
        if value is None:
            raise RefusedGlobal(_escape(f"{module}.{name}", 120))
        return value


class RestrictedUnpickler(_AllowListUnpickler):
    """Resolves only :data:`ALLOWED` globals and no persistent ids; anything else raises
    :class:`RefusedGlobal` before it is called. Use :func:`restricted_load`, which also runs the
    checks before and after."""

    def persistent_load(self, pid: object) -> object:
        raise RefusedGlobal("a persistent id (external object reference)")


def restricted_load(path: str | Path) -> object:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`, checked before (:func:`scan_pickle`)
    and after (:func:`check_structure`).

    Raises :class:`RefusedGlobal` for a forbidden global or argument, :class:`UnsafePickle` for a
    stream or structure past the limits, ``OSError`` for an unreadable file and whatever the
    unpickler raises for a malformed stream.
    """
    with open(path, "rb") as f:
        if f.seek(0, io.SEEK_END) == 0:
            raise EOFError("the file is empty")
        # Scanned through a read-only mapping (no copy of a 200 MB file), then unpickled from the
        # file itself, as before. (A file truncated by another process while it is mapped can
        # end the process with SIGBUS; that needs write access to the user's own file.)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            scan_pickle(data)
        f.seek(0)
        return check_structure(RestrictedUnpickler(f).load())


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


# ------------------------------------------------------------------------ torch files


def _torch_allowed() -> dict[tuple[str, str], Callable[..., object] | type]:
    import torch

    def rebuild_tensor_v2(storage: object, storage_offset: object, size: object, stride: object,
                          requires_grad: object, backward_hooks: object,
                          metadata: object = None) -> torch.Tensor:
        if not isinstance(storage, torch.storage.TypedStorage):
            raise _refuse_args("a tensor over something that is not a storage")
        shape, strides = _as_shape(tuple(size) if isinstance(size, tuple) else size), stride
        if not (isinstance(strides, tuple) and len(strides) == len(shape)
                and all(type(s) is int and s >= 0 for s in strides)):
            raise _refuse_args("a tensor with strides that do not match its shape")
        if type(storage_offset) is not int or storage_offset < 0 or requires_grad not in (
            True, False
        ) or backward_hooks or metadata:
            raise _refuse_args("a tensor with unexpected arguments")
        numel, available = math.prod(shape), storage._size()
        if numel > available or (numel and storage_offset + sum(
            (d - 1) * s for d, s in zip(shape, strides)
        ) >= available):
            raise _refuse_args(f"a tensor of shape {list(shape)} over a storage of "
                               f"{available} elements")
        return torch._utils._rebuild_tensor_v2(storage, storage_offset, shape, strides,
                                               requires_grad, OrderedDict())

    def rebuild_parameter(data: object, requires_grad: object,
                          backward_hooks: object) -> torch.nn.Parameter:
        if type(data) is not torch.Tensor or requires_grad not in (True, False) or backward_hooks:
            raise _refuse_args("a parameter with unexpected arguments")
        return torch.nn.Parameter(data, requires_grad)

    table = dict(ALLOWED)
    table[("torch._utils", "_rebuild_tensor_v2")] = rebuild_tensor_v2
    table[("torch._utils", "_rebuild_parameter")] = rebuild_parameter
    return table


#: What a torch file's object stream may name: :data:`ALLOWED`, plus torch's tensor and parameter
#: builders with their arguments checked. Storages come from the file's own records, through
#: torch's loader (which checks each record's size against the count the stream declares).
TORCH_ALLOWED: dict[tuple[str, str], Callable[..., object] | type] = {}


class _TorchUnpickler(_AllowListUnpickler):
    # No persistent_load method: torch's loader assigns its own (storages from the file's
    # records); the property below wraps it with a size check before torch allocates anything.
    max_storage_bytes: int = 0

    def __init__(self, file: BinaryIO, *, encoding: str = "utf-8", **_ignored: object) -> None:
        if not TORCH_ALLOWED:
            TORCH_ALLOWED.update(_torch_allowed())
        self.table = TORCH_ALLOWED
        super().__init__(file, encoding=encoding)

    @property
    def persistent_load(self) -> Callable[[object], object] | None:
        return self.__dict__.get("_persistent_load")

    @persistent_load.setter
    def persistent_load(self, load: Callable[[object], object]) -> None:
        limit = self.max_storage_bytes

        def checked(pid: object) -> object:
            # ('storage', type, key, location, numel[, view]): a legacy file's loader allocates
            # numel elements before it reads them, so numel may not ask for more than the file.
            if not (isinstance(pid, tuple) and len(pid) in (5, 6) and type(pid[4]) is int):
                raise _refuse_args("a persistent id that is not a storage")
            import torch

            dtype = getattr(pid[1], "dtype", torch.uint8)
            size = torch._utils._element_size(dtype) if isinstance(dtype, torch.dtype) else 1
            if pid[4] < 0 or pid[4] * size > limit:
                raise _refuse_args(f"a storage of {pid[4]} elements in a file of {limit} bytes")
            return load(pid)

        self.__dict__["_persistent_load"] = checked
        pickle.Unpickler.persistent_load.__set__(self, checked)  # type: ignore[attr-defined]


def torch_pickle_module(max_storage_bytes: int) -> types.ModuleType:
    """A module to pass ``torch.load(pickle_module=...)``: its ``Unpickler`` and ``load`` resolve
    only :data:`TORCH_ALLOWED`, and no storage may declare more than ``max_storage_bytes`` (the
    file's size). Callers scan each stream first (see :mod:`actionzoo.checkpoint.read`)."""
    unpickler = type("_BoundedTorchUnpickler", (_TorchUnpickler,),
                     {"max_storage_bytes": max_storage_bytes})

    def load(file: BinaryIO, **kwargs: object) -> object:
        return unpickler(file, **kwargs).load()

    module = types.ModuleType("actionzoo_restricted_pickle")
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = load  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return module
