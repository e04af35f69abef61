"""What a training run carries from step to step (:class:`TrainState`), and what a checkpoint keeps
of it for ``--resume`` (:class:`CheckpointRecord`).

The record is actionzoo's own part of a training checkpoint, ``meta['actionzoo']`` (mmaction2
container) or ``['actionzoo']`` (PySlowFast container), see :mod:`actionzoo.checkpoint.write`. It
is written as plain data (dicts, lists, tuples, numbers, strings, CPU tensors) that the
weights-only unpickler reads back; :meth:`CheckpointRecord.to_dict` writes exactly that layout and
:meth:`CheckpointRecord.from_dict` reads it, refusing a malformed one in one line naming the file.
Resume rests on the layout: checkpoints written before these types existed resume unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from actionzoo.errors import UsageError
from actionzoo.training.validate import ValidationResult, validation_from_dict

__all__ = ["TrainState", "CheckpointRecord", "WithinEpoch", "RngStates", "Best", "EpochRecord"]


@dataclass(frozen=True)
class Best:
    """The best validation so far: it picked ``best.*``."""

    epoch: int
    value: float
    metric: str

    def to_dict(self) -> dict[str, object]:
        return {"epoch": self.epoch, "value": self.value, "metric": self.metric}

    @classmethod
    def from_dict(cls, data: object) -> Best | None:
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise TypeError("best")
        return cls(_int(data["epoch"]), _float(data["value"]), _str(data["metric"]))


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: its mean step loss, its validation (if it validated) and the best so
    far."""

    epoch: int  # 1-based: the epochs done
    loss: float
    validation: ValidationResult | None = None
    best: Best | None = None

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"epoch": self.epoch, "loss": self.loss}
        if self.validation is not None:
            data.update(self.validation.to_dict())
        data["best"] = None if self.best is None else self.best.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: object) -> EpochRecord:
        if not isinstance(data, Mapping):
            raise TypeError("history entry")
        validation = validation_from_dict(data) if "metric" in data else None
        return cls(_int(data["epoch"]), _float(data["loss"]), validation,
                   Best.from_dict(data.get("best")))


@dataclass(frozen=True)
class RngStates:
    """Python's, NumPy's and torch's global generators."""

    python: tuple | None = None
    numpy: tuple | None = None
    torch: torch.Tensor | None = None

    @classmethod
    def capture(cls) -> RngStates:
        return cls(random.getstate(), np.random.get_state(), torch.get_rng_state())

    def restore(self) -> None:
        if self.python is not None:
            random.setstate(self.python)
        if self.numpy is not None:
            np.random.set_state(self.numpy)
        if self.torch is not None:
            torch.set_rng_state(self.torch)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {}
        for name in ("python", "numpy", "torch"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_dict(cls, data: object) -> RngStates:
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise TypeError("rng")
        python = _as_tuple(data["python"]) if "python" in data else None
        numpy = tuple(data["numpy"]) if "numpy" in data else None
        state = data.get("torch")
        if state is not None and not isinstance(state, torch.Tensor):
            raise TypeError("rng torch")
        return cls(python, numpy, state)


@dataclass(frozen=True)
class WithinEpoch:
    """Where a mid-epoch checkpoint was written: the steps done in the epoch, their losses, and
    each process's torch generator (so the rest of the epoch draws what it would have drawn)."""

    steps: int
    losses: list[float]
    world_size: int
    torch_rng: list[torch.Tensor]  # by rank

    def to_dict(self) -> dict[str, object]:
        return {"steps": self.steps, "losses": list(self.losses), "world_size": self.world_size,
                "torch_rng": list(self.torch_rng)}

    @classmethod
    def from_dict(cls, data: object) -> WithinEpoch | None:
        if not data:  # None at an epoch's end
            return None
        if not isinstance(data, Mapping):
            raise TypeError("within_epoch")
        states = list(data["torch_rng"])
        if not all(isinstance(s, torch.Tensor) for s in states):
            raise TypeError("within_epoch torch_rng")
        return cls(_int(data["steps"]), [_float(x) for x in data["losses"]],
                   _int(data["world_size"]), states)


@dataclass
class CheckpointRecord:
    """actionzoo's state in a training checkpoint: everything ``--resume`` restores besides the
    weights and the optimizer (which sit in the reference container's own fields)."""

    model: str
    num_classes: int
    class_names: list[str] | None
    epochs_done: int
    iteration: int  # optimizer steps done: the schedule's position
    plan: dict[str, object]  # the resolved plan, as JSON data
    scaler: dict[str, object] | None  # the AMP scaler's state (fp16 only)
    rng: RngStates
    sampler_epoch: int
    history: list[EpochRecord]
    best: Best | None
    within_epoch: WithinEpoch | None  # None at an epoch's end
    # --bn-batch: every process's per-group BN statistics by layer, (processes, 2, groups * C)
    bn_groups: dict[str, torch.Tensor] | None = None

    def to_dict(self) -> dict[str, object]:
        """The layout under ``meta['actionzoo']`` / ``['actionzoo']``, key for key."""
        return {
            "model": self.model,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "epochs_done": self.epochs_done,
            "iteration": self.iteration,
            "plan": self.plan,
            "scaler": self.scaler,
            "rng": self.rng.to_dict(),
            "sampler_epoch": self.sampler_epoch,
            "history": [entry.to_dict() for entry in self.history],
            "best": None if self.best is None else self.best.to_dict(),
            "within_epoch": None if self.within_epoch is None else self.within_epoch.to_dict(),
            **({"bn_groups": dict(self.bn_groups)} if self.bn_groups else {}),
        }

    @classmethod
    def from_dict(cls, path: str | Path, data: Mapping[str, object]) -> CheckpointRecord:
        """Read a checkpoint's record; a malformed one is refused in one line naming ``path``."""
        try:
            names = data.get("class_names")
            plan = data.get("plan") or {}
            scaler = data.get("scaler")
            if not isinstance(plan, Mapping) or not (scaler is None or isinstance(scaler, Mapping)):
                raise TypeError("plan or scaler")
            return cls(
                model=_str(data.get("model", "")),
                num_classes=_int(data.get("num_classes", 0)),
                class_names=None if names is None else [_str(n) for n in names],
                epochs_done=_int(data["epochs_done"]),
                iteration=_int(data["iteration"]),
                plan=dict(plan),
                scaler=None if scaler is None else dict(scaler),
                rng=RngStates.from_dict(data.get("rng")),
                sampler_epoch=_int(data.get("sampler_epoch", data["epochs_done"])),
                history=[EpochRecord.from_dict(e) for e in data.get("history") or []],
                best=Best.from_dict(data.get("best")),
                within_epoch=WithinEpoch.from_dict(data.get("within_epoch")),
                bn_groups=_tensors_by_name(data.get("bn_groups")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UsageError(f"{path}: its actionzoo training state is malformed ({type(error).__name__}: "
                             f"{error}); cannot resume from it") from None


@dataclass
class TrainState:
    """Everything a training step reads and changes; the loop passes this one object around."""

    model: nn.Module  # the module whose weights are saved
    net: nn.Module  # what trains: ``model``, or its DistributedDataParallel wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    epoch: int = 0  # the epoch in progress (0-based), i.e. the epochs done before it
    iteration: int = 0  # optimizer steps done over the run: the LR schedule's position
    step_in_epoch: int = 0  # steps done in ``epoch``: with the batch size, the sampler's position
    losses: list[float] = field(default_factory=list)  # this epoch's step losses so far
    history: list[EpochRecord] = field(default_factory=list)
    best: Best | None = None
    resume_within: WithinEpoch | None = None  # a mid-epoch checkpoint's position, until used
    bn_groups: dict[str, torch.Tensor] | None = None  # --bn-batch: as last gathered, for saving
    saved_at: float = 0.0  # time.monotonic() of the last checkpoint write (for --checkpoint-minutes)

    @property
    def params(self) -> list[nn.Parameter]:
        """The parameters that train (what gradient clipping clips)."""
        return [p for p in self.model.parameters() if p.requires_grad]


def _tensors_by_name(value: object) -> dict[str, torch.Tensor] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) and v.is_floating_point()
            for k, v in value.items()):
        raise TypeError("bn_groups: expected layer name -> float tensor")
    return dict(value)


def _as_tuple(value):
    """Python's generator state comes back from a checkpoint with its tuples as lists."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{value!r} is not an integer")
    return int(value)


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value
