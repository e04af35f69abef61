"""Reading checkpoint files safely and loading them strictly into a model.

Three on-disk containers are recognised:

* mmaction2 / mmcv: a ``torch.save`` dict ``{'meta', 'state_dict'[, 'optimizer']}``, keys possibly
  prefixed with ``module.`` (DataParallel); ``meta`` holds numpy scalars in official files.
* PySlowFast ``.pyth``: ``{'epoch', 'model_state', 'optimizer_state', 'cfg'}``.
* PySlowFast Caffe2 ``.pkl``: a Python-2 pickle ``{'blobs': {name: ndarray}}`` whose blob names are
  rewritten to PySlowFast keys by PySlowFast's ordered substitution rules.

A bare state dict (``torch.save(model.state_dict())``) also loads. Nothing here executes code from a
file: torch files go through torch's weights-only unpickler with numpy scalars allow-listed, Caffe2
pickles through an unpickler that admits numpy arrays and plain containers only. ``trusted=True``
(``--trust-checkpoint`` on the CLI) opts out of that for files the user vouches for.
"""

from __future__ import annotations

import enum
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from actionzoo.checkpoint.caffe2 import caffe2_state_dict
from actionzoo.errors import CheckpointError
from actionzoo.fileio.unpickle import (
    RefusedGlobal,
    is_legacy_torch_file,
    restricted_load,
    torch_safe_globals,
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
    with torch.serialization.safe_globals(torch_safe_globals()):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            refused = _refused_torch_globals(path, str(error))
            what = f"it references {', '.join(refused)}" if refused else _first_line(str(error))
            raise CheckpointError(f"{path}: refusing to unpickle, {what}; {_TRUST_HINT}") from None


def _refused_torch_globals(path: Path, message: str) -> list[str]:
    """The globals torch's weights-only unpickler refused: a scan of a zip file's object stream
    (no unpickling), else the names in torch's message (which drops ``builtins.``)."""
    allowed = {name for _, name in torch_safe_globals()}
    try:
        scanned = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # legacy (non-zip) files cannot be scanned this way
        scanned = []
    named = [n if "." in n else f"builtins.{n}" for n in re.findall(r"GLOBAL ([\w.]+)", message)]
    return [n for n in dict.fromkeys([*scanned, *named]) if n not in allowed]


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
        raise CheckpointError(f"{path}: not a readable pickle ({_first_line(str(error))})") from None


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
                f"{path}: not a readable torch checkpoint ({_first_line(str(error))})"
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
    keys = ", ".join(map(repr, list(data)[:6])) if isinstance(data, Mapping) else type(data).__name__
    raise CheckpointError(
        f"{path}: not a known checkpoint container (expected 'state_dict', 'model_state', "
        f"'blobs' or a bare state dict; found {keys})"
    )
