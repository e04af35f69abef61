"""What a checkpoint file is, and which registered model it fits (``actionzoo inspect``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from actionzoo.checkpoint.fit import FitReport, check_fit
from actionzoo.checkpoint.read import CheckpointFormat, read_checkpoint
from actionzoo.zoo.registry import MODELS, checkpoint_num_classes, expected_shapes


@dataclass
class ModelFit:
    model: str
    report: FitReport
    num_classes: int
    format_accepted: bool  # the registry lists this container for the model


@dataclass
class CheckpointInfo:
    path: Path
    format: CheckpointFormat
    num_keys: int
    num_parameters: int  # elements of floating-point tensors other than BN running stats
    extras: list[str]  # other top-level entries (meta, epoch, cfg, optimizer...)
    ignored: list[str]
    fits: list[ModelFit]

    @property
    def matching(self) -> list[str]:
        return [f.model for f in self.fits if f.report.fits and f.format_accepted]


def inspect_checkpoint(path: str | os.PathLike[str], *, trusted: bool = False) -> CheckpointInfo:
    ckpt = read_checkpoint(path, trusted=trusted)
    fits = []
    for spec in MODELS.values():
        num_classes = checkpoint_num_classes(spec, ckpt)
        report = check_fit(expected_shapes(spec, num_classes), ckpt.state_dict)
        fits.append(ModelFit(spec.name, report, num_classes, spec.accepts(ckpt.format)))
    num_parameters = sum(
        v.numel()
        for k, v in ckpt.state_dict.items()
        if v.is_floating_point() and not k.endswith(("running_mean", "running_var"))
    )
    return CheckpointInfo(
        path=Path(path),
        format=ckpt.format,
        num_keys=len(ckpt.state_dict),
        num_parameters=num_parameters,
        extras=sorted(map(str, ckpt.extras)),
        ignored=ckpt.ignored,
        fits=fits,
    )
