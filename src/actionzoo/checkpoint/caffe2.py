"""PySlowFast's Caffe2 ``.pkl`` checkpoints: blob names rewritten to PySlowFast state-dict keys.

The rules are PySlowFast's ordered substitutions (PySlowFast@9839d13
``slowfast/utils/c2_model_loading.py``, ``get_name_convert_func``), applied in order, each to the
previous one's output. Optimizer and bookkeeping blobs (``momentum``, ``lr``, ``model_iter``) are
dropped, as PySlowFast drops them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from actionzoo.errors import CheckpointError
from actionzoo.fileio.display import shown

__all__ = ["caffe2_blob_to_key", "caffe2_state_dict"]

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


#: Longest blob name accepted (official names are under 60 characters). PySlowFast's rules search
#: with ``.*`` at every position, quadratic in the name's length: a 32 KB name took 26 s.
MAX_BLOB_NAME = 256


def caffe2_blob_to_key(blob: str) -> str:
    """Rewrite a Caffe2 blob name to its PySlowFast state-dict key."""
    if len(blob) > MAX_BLOB_NAME:
        raise ValueError(f"blob name of {len(blob)} characters (at most {MAX_BLOB_NAME})")
    for pattern, replacement in _CAFFE2_COMPILED:
        blob = pattern.sub(replacement, blob)
    return blob


def caffe2_state_dict(path: Path, data: object) -> tuple[dict[str, torch.Tensor], list[str]]:
    if not isinstance(data, Mapping) or not isinstance(data.get("blobs"), Mapping):
        raise CheckpointError(f"{path}: a Caffe2 checkpoint must be a dict with a 'blobs' dict")
    state: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for blob, value in data["blobs"].items():
        if isinstance(blob, bytes):  # Python 2 str names read as bytes
            blob = blob.decode("latin1")
        if not isinstance(blob, str) or len(blob) > MAX_BLOB_NAME:
            raise CheckpointError(f"{path}: blob name {shown(blob, 60)} is not a name of at most "
                                  f"{MAX_BLOB_NAME} characters")
        if any(word in blob for word in _CAFFE2_IGNORED) or not isinstance(value, np.ndarray):
            ignored.append(blob)
            continue
        if value.dtype.kind not in "biufc":
            raise CheckpointError(f"{path}: blob {shown(blob, 60)} is a {value.dtype} array; "
                                  "weights are numeric")
        state[caffe2_blob_to_key(blob)] = torch.from_numpy(np.ascontiguousarray(value))
    return state, ignored
