"""Writing checkpoints in the references' own containers, so the references, ``build_model``,
``export`` and ``eval`` all read them, plus what resuming a run needs.

* mmaction2 ``.pth`` (mmcv@7207397d ``runner/checkpoint.py`` ``save_checkpoint``):
  ``{'meta', 'state_dict', 'optimizer'}``; ``meta`` holds ``epoch`` (epochs done), ``iter``
  (iterations done), ``mmaction_version``, ``time``, ``seed``, ``hook_msgs``.
* PySlowFast ``.pyth`` (PySlowFast@9839d13 ``slowfast/utils/checkpoint.py`` ``save_checkpoint``):
  ``{'epoch', 'model_state', 'optimizer_state', 'cfg'}`` with ``epoch`` the 0-based index of the
  epoch just finished, ``cfg`` a YAML string (JSON is YAML), and ``scaler_state`` under AMP.

actionzoo's own state (the resolved config, class names, scheduler position, AMP scaler, RNG
states, sampler epoch, history) goes under ``meta['actionzoo']`` / ``['actionzoo']``, as plain
data that the weights-only unpickler reads back. Files are written beside and renamed into place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.fileio.atomic import atomic_path

__all__ = ["SUFFIX", "checkpoint_payload", "save_checkpoint", "actionzoo_state", "optimizer_state"]

SUFFIX = {CheckpointFormat.MMACTION2: ".pth", CheckpointFormat.PYSLOWFAST: ".pyth"}


def checkpoint_payload(
    fmt: CheckpointFormat,
    state_dict: Mapping[str, torch.Tensor],
    optimizer: Mapping[str, object],
    *,
    epochs_done: int,
    iteration: int,
    seed: int,
    config: Mapping[str, object],
    ours: Mapping[str, object],
    scaler: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The dict ``torch.save`` writes, in ``fmt``'s layout."""
    state = {k: v.detach().cpu() for k, v in state_dict.items()}
    if fmt is CheckpointFormat.MMACTION2:
        meta = {
            "epoch": epochs_done,
            "iter": iteration,
            "mmaction_version": "actionzoo",
            "time": time.asctime(),
            "seed": seed,
            "hook_msgs": {"last_ckpt": None},
            "actionzoo": dict(ours),
        }
        return {"meta": meta, "state_dict": state, "optimizer": dict(optimizer)}
    if fmt is CheckpointFormat.PYSLOWFAST:
        payload = {
            "epoch": epochs_done - 1,
            "model_state": state,
            "optimizer_state": dict(optimizer),
            "cfg": json.dumps(dict(config), indent=1, default=str),
            "actionzoo": dict(ours),
        }
        if scaler is not None:
            payload["scaler_state"] = dict(scaler)
        return payload
    raise ValueError(f"actionzoo writes mmaction2 or pyslowfast checkpoints, not {fmt}")


def save_checkpoint(path: str | Path, payload: Mapping[str, object]) -> Path:
    with atomic_path(path) as partial:
        torch.save(dict(payload), partial)
    return Path(path)


def actionzoo_state(extras: Mapping[str, object]) -> dict[str, object] | None:
    """actionzoo's own state in a checkpoint's extras (None when the file is not one of ours)."""
    meta = extras.get("meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("actionzoo"), Mapping):
        return dict(meta["actionzoo"])
    ours = extras.get("actionzoo")
    return dict(ours) if isinstance(ours, Mapping) else None


def optimizer_state(extras: Mapping[str, object]) -> dict[str, object] | None:
    state = extras.get("optimizer", extras.get("optimizer_state"))
    return dict(state) if isinstance(state, Mapping) else None
