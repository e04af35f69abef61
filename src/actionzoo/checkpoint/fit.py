"""How a checkpoint's weights line up against a model, and loading them strictly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from actionzoo.checkpoint.read import Checkpoint
from actionzoo.errors import CheckpointError
from actionzoo.fileio.display import escape

__all__ = ["FitReport", "check_fit", "fitting_weights", "copy_weights", "load_state_dict_strict"]

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
            return ", ".join(escape(str(item), 120) for item in items[:limit]) + more

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


def fitting_weights(
    model: torch.nn.Module,
    checkpoint: Checkpoint,
    model_name: str,
    *,
    skip_prefix: str | None = None,
) -> dict[str, torch.Tensor]:
    """The checkpoint's weights, checked to fit ``model`` exactly; any mismatch is one
    :class:`CheckpointError`. Keys under ``skip_prefix`` are left out on both sides."""
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
    return state


def copy_weights(model: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`fitting_weights`) into ``model``'s parameters and buffers."""
    target = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            param = target[key]
            param.copy_(value.reshape(param.shape).to(param.dtype))


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
    copy_weights(model, fitting_weights(model, checkpoint, model_name, skip_prefix=skip_prefix))
