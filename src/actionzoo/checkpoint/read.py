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

import numpy as np
import torch

from actionzoo.errors import CheckpointError
from actionzoo.fileio.unpickle import RefusedGlobal, is_legacy_torch_file, restricted_load, torch_safe_globals

__all__ = [
    "CheckpointFormat",
    "Checkpoint",
    "FitReport",
    "read_checkpoint",
    "check_fit",
    "load_state_dict_strict",
    "caffe2_blob_to_key",
]


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
# Caffe2 blob names -> PySlowFast keys

# PySlowFast's substitutions, applied in this order, each to the previous one's output.
_CAFFE2_RULES: list[tuple[str, str]] = [
    (r"^nonlocal_conv([0-9]+)_([0-9]+)_(.*)", r"s\1.pathway0_nonlocal\2_\3"),
    (r"^(.*)_nonlocal([0-9]+)_(theta)(.*)", r"\1_nonlocal\2.conv_\3\4"),
    (r"^(.*)_nonlocal([0-9]+)_(g)(.*)", r"\1_nonlocal\2.conv_\3\4"),
    (r"^(.*)_nonlocal([0-9]+)_(phi)(.*)", r"\1_nonlocal\2.conv_\3\4"),
    (r"^(.*)_nonlocal([0-9]+)_(out)(.*)", r"\1_nonlocal\2.conv_\3\4"),
    (r"^(.*)_nonlocal([0-9]+)_bn_(.*)", r"\1_nonlocal\2.bn.\3"),
    (r"^t_pool1_subsample_bn_(.*)", r"s1_fuse.bn.\1"),
    (r"^t_pool1_subsample_(.*)", r"s1_fuse.conv_f2s.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_bn_(.*)", r"s\1_fuse.bn.\3"),
    (r"^t_res([0-9]+)_([0-9]+)_branch2c_bn_subsample_(.*)", r"s\1_fuse.conv_f2s.\3"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway0_res\2.branch\3.\4_\5"),
    (r"^res_conv1_bn_(.*)", r"s1.pathway0_stem.bn.\1"),
    (r"^conv1_xy(.*)", r"s1.pathway0_stem.conv_xy\1"),
    (r"^conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway0_res\2.branch\3_\4"),
    (r"^res_conv1_(.*)", r"s1.pathway0_stem.conv.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)([a-z])_(.*)", r"s\1.pathway1_res\2.branch\3.\4_\5"),
    (r"^t_res_conv1_bn_(.*)", r"s1.pathway1_stem.bn.\1"),
    (r"^t_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"^t_res([0-9]+)_([0-9]+)_branch([0-9]+)_(.*)", r"s\1.pathway1_res\2.branch\3_\4"),
    (r"^t_res_conv1_(.*)", r"s1.pathway1_stem.conv.\1"),
    (r"pred_(.*)", r"head.projection.\1"),
    (r"(.*)b_bn_fc(.*)", r"\1se.fc\2"),
    (r"conv_5(.*)", r"head.conv_5\1"),
    (r"lin_5(.*)", r"head.lin_5\1"),
    (r"(.*)bn.b\Z", r"\1bn.bias"),
    (r"(.*)bn.s\Z", r"\1bn.weight"),
    (r"(.*)bn.rm\Z", r"\1bn.running_mean"),
    (r"(.*)bn.riv\Z", r"\1bn.running_var"),
    (r"(.*)[\._]b\Z", r"\1.bias"),
    (r"(.*)[\._]w\Z", r"\1.weight"),
]
_CAFFE2_COMPILED = [(re.compile(p), r) for p, r in _CAFFE2_RULES]
# Optimizer state and bookkeeping blobs that PySlowFast drops without a word.
_CAFFE2_IGNORED = ("momentum", "lr", "model_iter")


def caffe2_blob_to_key(blob: str) -> str:
    """Rewrite a Caffe2 blob name to its PySlowFast state-dict key."""
    for pattern, replacement in _CAFFE2_COMPILED:
        blob = pattern.sub(replacement, blob)
    return blob


def _caffe2_state_dict(path: Path, data: object) -> tuple[dict[str, torch.Tensor], list[str]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("blobs"), Mapping):
        raise CheckpointError(f"{path}: a Caffe2 checkpoint must be a dict with a 'blobs' dict")
    state: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for blob, value in data["blobs"].items():
        if any(word in blob for word in _CAFFE2_IGNORED) or not isinstance(value, np.ndarray):
            ignored.append(blob)
            continue
        state[caffe2_blob_to_key(blob)] = torch.from_numpy(np.ascontiguousarray(value))
    return state, ignored


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
        state, ignored = _caffe2_state_dict(path, data)
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


# --------------------------------------------------------------------------------------------
# Strict loading

# Buffers that carry no information at eval time and that old files may lack.
_OPTIONAL_SUFFIXES = ("num_batches_tracked",)


@dataclass
class FitReport:
    """How a checkpoint's weights line up against a model's state dict."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]]  # key, checkpoint, model

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 3) -> str:
        def some(items: list[str]) -> str:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing keys: {some(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected keys: {some(self.unexpected)}")
        if self.mismatched:
            shown = [f"{k} {list(c)} vs model {list(m)}" for k, c, m in self.mismatched]
            parts.append(f"{len(self.mismatched)} shape mismatches: {some(shown)}")
        return "; ".join(parts) if parts else "fits"


def _loadable_shape(value: torch.Tensor, target: tuple[int, ...]) -> bool:
    """Caffe2 stores FC weights that PySlowFast loads into 1x1x1 convs: trailing 1s may be added."""
    shape = tuple(value.shape)
    if shape == target:
        return True
    return len(shape) < len(target) and shape + (1,) * (len(target) - len(shape)) == target


def check_fit(
    model_shapes: Mapping[str, tuple[int, ...]], state_dict: Mapping[str, torch.Tensor]
) -> FitReport:
    missing = [
        k for k in model_shapes if k not in state_dict and not k.endswith(_OPTIONAL_SUFFIXES)
    ]
    unexpected = [k for k in state_dict if k not in model_shapes]
    mismatched = [
        (k, tuple(v.shape), tuple(model_shapes[k]))
        for k, v in state_dict.items()
        if k in model_shapes and not _loadable_shape(v, tuple(model_shapes[k]))
    ]
    return FitReport(missing, unexpected, mismatched)


def model_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_state_dict_strict(
    model: torch.nn.Module,
    checkpoint: Checkpoint,
    model_name: str,
    *,
    skip_prefix: str | None = None,
) -> None:
    """Copy every weight of ``checkpoint`` into ``model``; any mismatch is one CheckpointError.

    Keys under ``skip_prefix`` are left out on both sides (the model keeps its own values).
    """
    target = model.state_dict()
    state = checkpoint.state_dict
    if skip_prefix:
        target = {k: v for k, v in target.items() if not k.startswith(skip_prefix)}
        state = {k: v for k, v in state.items() if not k.startswith(skip_prefix)}
    report = check_fit({k: tuple(v.shape) for k, v in target.items()}, state)
    if not report.fits:
        raise CheckpointError(
            f"{checkpoint.path}: does not fit {model_name} ({checkpoint.format} file): "
            f"{report.summary()}"
        )
    with torch.no_grad():
        for key, value in state.items():
            param = target[key]
            param.copy_(value.reshape(param.shape).to(param.dtype))
