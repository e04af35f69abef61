"""Reading checkpoint files safely and loading them strictly into a model.

Three on-disk containers are recognised:

* mmaction2 / mmcv: a ``torch.save`` dict ``{'meta', 'state_dict'[, 'optimizer']}``, keys possibly
  prefixed with ``module.`` (DataParallel); ``meta`` holds numpy scalars in official files.
* PySlowFast ``.pyth``: ``{'epoch', 'model_state', 'optimizer_state', 'cfg'}``.
* PySlowFast Caffe2 ``.pkl``: a Python-2 pickle ``{'blobs': {name: ndarray}}`` whose blob names are
  rewritten to PySlowFast keys by PySlowFast's ordered substitution rules.

A bare state dict (``torch.save(model.state_dict())``) also loads. Nothing here executes code from a
file: torch files go through torch's loader with actionzoo's restricted unpickler (tensors, numpy
numbers and arrays rebuilt from checked descriptions, plain containers), Caffe2 pickles through the
same unpickler without tensors. ``trusted=True``
(``--trust-checkpoint`` on the CLI) opts out of that for files the user vouches for.
"""

from __future__ import annotations

import enum
import mmap
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from actionzoo.checkpoint.caffe2 import caffe2_state_dict
from actionzoo.errors import CheckpointError
from actionzoo.fileio.display import escape, shown
from actionzoo.fileio.pickle_scan import UnsafePickle, scan_pickle
from actionzoo.fileio.unpickle import (
    RefusedGlobal,
    check_structure,
    is_legacy_torch_file,
    restricted_load,
    torch_pickle_module,
)

__all__ = ["CheckpointFormat", "Checkpoint", "read_checkpoint"]


class CheckpointFormat(enum.Enum):
    MMACTION2 = "mmaction2"
    PYSLOWFAST = "pyslowfast"
    CAFFE2 = "caffe2"
    STATE_DICT = "state dict"

    def __str__(self) -> str:
        return self.value


@dataclass
class Checkpoint:
    """The weights of a checkpoint file under the model's own key names, plus what else it held."""

    path: Path
    format: CheckpointFormat
    state_dict: dict[str, torch.Tensor]
    # Top-level entries other than the weights (meta, epoch, cfg, ...), as read.
    extras: dict[str, object] = field(default_factory=dict)
    # Entries dropped on purpose (optimizer blobs of Caffe2 files, non-array values).
    ignored: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Reading without running code from the file

_TRUST_HINT = "pass --trust-checkpoint (trusted=True) only if you trust where this file came from"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _torch_load(path: Path, trusted: bool) -> object:
    if trusted:
        return torch.load(path, map_location="cpu", weights_only=False)
    _scan_torch_file(path)
    try:
        # torch's loader (zip records or legacy layout, storages, byte order) with our unpickler:
        # the object stream may name only TORCH_ALLOWED, and BUILD reaches no trusting
        # __setstate__. weights_only is off only because torch refuses a pickle_module otherwise;
        # the untrusted stream still meets only our restricted unpickler, not torch's allow-list.
        data = torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=torch_pickle_module(path.stat().st_size))
    except RefusedGlobal as refused:
        raise CheckpointError(
            f"{path}: refusing to unpickle {refused.name}: a torch checkpoint may hold only "
            f"tensors, numpy numbers and arrays, and plain containers; {_TRUST_HINT}"
        ) from None
    return check_structure(data)


# A legacy torch file is five pickles in a row (magic, protocol, system info, objects, storage
# keys) followed by raw storage bytes.
_LEGACY_PICKLES = 5


def _scan_torch_file(path: Path) -> None:
    """Scan every object stream of a torch file before torch's loader reads it; refuse
    TorchScript archives (torch.load would hand them to torch.jit.load)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names):
                raise CheckpointError(
                    f"{path}: a TorchScript archive, not a checkpoint (it holds code); "
                    f"{_TRUST_HINT}"
                )
            for name in names:
                if name.endswith(".pkl"):
                    info = archive.getinfo(name)
                    if info.file_size > _MAX_OBJECT_STREAM:
                        raise UnsafePickle(f"{name} is {info.file_size} bytes")
                    scan_pickle(archive.read(name))
        return
    # Through a read-only mapping: only the pickles' pages are touched, never the storages.
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = 0
        for _ in range(_LEGACY_PICKLES):
            pos = scan_pickle(data, pos)
            if pos > _MAX_OBJECT_STREAM:
                raise UnsafePickle(f"object streams of more than {_MAX_OBJECT_STREAM} bytes")


# The object stream of a checkpoint (not its tensor data) is kilobytes; 256 MiB is far above any.
_MAX_OBJECT_STREAM = 256 << 20


def _pickle_load(path: Path, trusted: bool) -> object:
    if trusted:
        with path.open("rb") as f:
            return pickle.load(f, encoding="latin1")
    try:
        return restricted_load(path)
    except RefusedGlobal as refused:
        raise CheckpointError(
            f"{path}: refusing to unpickle {refused.name}: a Caffe2 or plain-pickle checkpoint may "
            f"hold only numpy arrays and plain containers; {_TRUST_HINT}"
        ) from None
    except Exception as error:
        raise CheckpointError(f"{path}: not a readable pickle ({_problem(error)})") from None


def _problem(error: BaseException) -> str:
    """One escaped line describing why reading failed."""
    if isinstance(error, RecursionError):
        return "objects nested too deeply"
    if isinstance(error, MemoryError):
        return "it asks for more memory than there is"
    return escape(_first_line(str(error)) or type(error).__name__, 200)


# --------------------------------------------------------------------------------------------
# Container detection


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def _is_torch_file(path: Path) -> bool:
    """A zip archive (torch >= 1.6) or a legacy torch.save stream, told by bytes, never by unpickling."""
    return zipfile.is_zipfile(path) or is_legacy_torch_file(path)


def read_checkpoint(path: str | Path, *, trusted: bool = False) -> Checkpoint:
    """Read a checkpoint file of any supported container; weights come back under model keys."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")

    if _is_torch_file(path):
        try:
            data = _torch_load(path, trusted)
        except CheckpointError:
            raise
        except Exception as error:
            raise CheckpointError(
                f"{path}: not a readable torch checkpoint ({_problem(error)})"
            ) from None
    else:
        data = _pickle_load(path, trusted)

    if isinstance(data, Mapping) and isinstance(data.get("blobs"), Mapping):
        state, ignored = caffe2_state_dict(path, data)
        extras = {k: v for k, v in data.items() if k != "blobs"}
        return Checkpoint(path, CheckpointFormat.CAFFE2, state, extras, ignored)
    if isinstance(data, Mapping) and _is_tensor_dict(data.get("state_dict")):
        state = _strip_prefix(data["state_dict"], "module.")
        extras = {k: v for k, v in data.items() if k != "state_dict"}
        return Checkpoint(path, CheckpointFormat.MMACTION2, state, extras)
    if isinstance(data, Mapping) and _is_tensor_dict(data.get("model_state")):
        state = _strip_prefix(data["model_state"], "module.")
        extras = {k: v for k, v in data.items() if k != "model_state"}
        return Checkpoint(path, CheckpointFormat.PYSLOWFAST, state, extras)
    if _is_tensor_dict(data):
        return Checkpoint(path, CheckpointFormat.STATE_DICT, _strip_prefix(data, "module."))
    keys = (", ".join(shown(k, 40) for k in list(data)[:6]) if isinstance(data, Mapping)
            else type(data).__name__)
    raise CheckpointError(
        f"{path}: not a known checkpoint container (expected 'state_dict', 'model_state', "
        f"'blobs' or a bare state dict; found {keys})"
    )
