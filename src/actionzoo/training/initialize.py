"""Starting weights for a training run (``--init``), kept apart from resuming a run.

* No ``--init`` (or ``--init none``): the reference's own initialisation
  (:mod:`actionzoo.models.init`), i.e. from scratch. A recipe whose reference starts from other
  weights refuses to start without ``--init`` (:func:`~actionzoo.training.config.require_reference_start`).
* An official checkpoint of the same model: every key loads strictly; when ``--num-classes``
  differs from the checkpoint's, the classifier is re-initialised by the reference's rule instead
  and that is reported (mmaction2 ``load_from`` / PySlowFast ``CHECKPOINT_FILE_PATH`` semantics,
  minus their silent skipping of anything else that does not fit).
* A checkpoint of a model listed in ``spec.backbone_from`` (the Kinetics SlowFast ``.pkl`` or
  ``.pyth`` for the AVA detector, as the AVA guide trains it): everything but the head loads.
* A torchvision-format ImageNet ResNet-50 state dict, into TSM (2D tensors copied by name) or the
  mmaction2 SlowFast (2D -> 3D inflation), by mmaction2@92e5517
  ``mmaction/models/backbones/resnet3d.py`` ``inflate_weights`` and mmaction2@5fa8faa
  ``backbones/resnet.py`` ``_load_torchvision_checkpoint``: ``convN.conv`` <-> ``convN``,
  ``convN.bn`` <-> ``bnN``, ``downsample.conv/.bn`` <-> ``downsample.0/.1``, stem
  ``conv1.conv/.bn`` <-> ``conv1``/``bn1``; a conv weight ``[o, i, kh, kw]`` becomes
  ``[o, i, kt, kh, kw]`` by repeating along time and dividing by ``kt``; a slow-path conv that
  also takes lateral channels gets the 2D weight zero-padded on the input axis first; laterals
  and tensors that cannot match (the 1/8-wide fast pathway) keep their initialisation.

Every case prints which keys loaded, which were skipped and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from actionzoo.checkpoint.fit import check_fit
from actionzoo.checkpoint.read import Checkpoint, CheckpointFormat, read_checkpoint
from actionzoo.errors import CheckpointError
from actionzoo.models.init import initialise, initialise_classifier
from actionzoo.zoo.registry import (
    accepted_formats,
    checkpoint_num_classes,
    expected_shapes,
)
from actionzoo.zoo.spec import ModelSpec

__all__ = ["InitReport", "initial_model", "torchvision_resnet_key", "is_torchvision_resnet"]


@dataclass
class InitReport:
    source: str  # what the weights came from
    loaded: int = 0
    inflated: int = 0
    reinitialised: list[str] = field(default_factory=list)  # "prefix: why"
    skipped: list[str] = field(default_factory=list)  # "key: why"

    def lines(self) -> list[str]:
        text = [f"init: {self.source}"]
        if self.loaded:
            extra = f" ({self.inflated} inflated 2D -> 3D)" if self.inflated else ""
            text.append(f"  loaded {self.loaded} tensors{extra}")
        text += [f"  re-initialised {item}" for item in self.reinitialised]
        if self.skipped:
            text.append(f"  skipped {len(self.skipped)}: " + "; ".join(self.skipped[:8])
                        + (f"; ... ({len(self.skipped) - 8} more)" if len(self.skipped) > 8 else ""))
        return text


def initial_model(spec: ModelSpec, num_classes: int, init: str | Path | None, *,
                  trusted: bool = False) -> tuple[nn.Module, InitReport]:
    """The model a run starts from, with the report of how each part was initialised."""
    rule = spec.recipe.init
    model = initialise(spec.builder(num_classes), rule)
    if init is None or str(init) == "none":
        scratch = "from scratch, as asked (--init none)" if init is not None else "from scratch"
        return model, InitReport(f"the reference initialisation ({rule.describe()}): {scratch}")
    ckpt = read_checkpoint(init, trusted=trusted)
    if ckpt.format is CheckpointFormat.STATE_DICT and is_torchvision_resnet(ckpt.state_dict):
        return model, _load_imagenet(model, spec, ckpt)
    shapes = expected_shapes(spec, num_classes)
    backbone = {k: v for k, v in shapes.items() if not k.startswith(spec.classifier_prefix)}
    if check_fit(backbone, _without(ckpt.state_dict, spec.classifier_prefix)).fits \
            and ckpt.format in accepted_formats(spec):
        return model, _load_same_model(model, spec, ckpt, num_classes)
    if spec.backbone_from and ckpt.format in accepted_formats(spec, backbone_only=True):
        trunk = {k: v for k, v in shapes.items() if not k.startswith(spec.head_prefix)}
        report = check_fit(trunk, _without(ckpt.state_dict, spec.head_prefix))
        if report.fits:
            _copy(model, _without(ckpt.state_dict, spec.head_prefix))
            loaded = len(_without(ckpt.state_dict, spec.head_prefix))
            return model, InitReport(
                f"{ckpt.path} ({ckpt.format}): backbone of {', '.join(spec.backbone_from)}",
                loaded=loaded,
                reinitialised=[f"{spec.head_prefix}* (the {spec.task} head; "
                               f"{spec.classifier_prefix}weight N(0, {rule.classifier_std:g}))"])
    fit = check_fit(shapes, ckpt.state_dict)
    raise CheckpointError(
        f"{ckpt.path}: cannot initialise {spec.name} from this {ckpt.format} file (expected a "
        f"{spec.name} checkpoint, a backbone of {', '.join(spec.backbone_from) or 'none'} or a "
        f"torchvision ResNet-50): {fit.summary()}")


def _without(state: dict, prefix: str) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(prefix)}


def _copy(model: nn.Module, state: dict) -> None:
    target = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            target[key].copy_(value.reshape(target[key].shape).to(target[key].dtype))


def _load_same_model(model: nn.Module, spec: ModelSpec, ckpt: Checkpoint, num_classes: int) -> InitReport:
    rule = spec.recipe.init
    had = checkpoint_num_classes(spec, ckpt)
    report = InitReport(f"{ckpt.path} ({ckpt.format}, {had} classes)")
    if had == num_classes:
        _copy(model, ckpt.state_dict)
        report.loaded = len(ckpt.state_dict)
        return report
    state = _without(ckpt.state_dict, spec.classifier_prefix)
    _copy(model, state)
    initialise_classifier(model, rule)
    report.loaded = len(state)
    report.reinitialised.append(f"{rule.classifier} ({had} -> {num_classes} classes, weight "
                                f"N(0, {rule.classifier_std:g}), bias 0)")
    return report


# ----------------------------------------------------------------------------- ImageNet ResNet-50

_TV_RULES = [
    (re.compile(r"^conv1\.conv\.weight$"), r"conv1.weight"),
    (re.compile(r"^conv1\.bn\.(.+)$"), r"bn1.\1"),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.conv(?:\.net)?\.weight$"), r"\1.conv\2.weight"),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.bn\.(.+)$"), r"\1.bn\2.\3"),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.conv\.weight$"), r"\1.downsample.0.weight"),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.bn\.(.+)$"), r"\1.downsample.1.\2"),
]
_PATHWAY = re.compile(r"^backbone\.(?:(?:slow|fast)_path\.)?")


def torchvision_resnet_key(key: str) -> str | None:
    """The torchvision ResNet key an mmaction2 ResNet/ResNet3d/SlowFast-pathway key reads from."""
    if "lateral" in key or not key.startswith("backbone."):
        return None
    local = _PATHWAY.sub("", key)
    for pattern, replacement in _TV_RULES:
        if pattern.match(local):
            return pattern.sub(replacement, local)
    return None


def is_torchvision_resnet(state: dict) -> bool:
    return {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "fc.weight"} <= set(state)


def _load_imagenet(model: nn.Module, spec: ModelSpec, ckpt: Checkpoint) -> InitReport:
    if not any(torchvision_resnet_key(k) for k in model.state_dict()):
        raise CheckpointError(f"{ckpt.path}: an ImageNet ResNet initialises TSM and the mmaction2 "
                              f"SlowFast, not {spec.name}")
    report = InitReport(f"{ckpt.path} (torchvision ImageNet ResNet)")
    used: set[str] = set()
    target = model.state_dict()
    with torch.no_grad():
        for key, tensor in target.items():
            source_key = torchvision_resnet_key(key)
            if source_key is None:
                continue
            if source_key not in ckpt.state_dict:
                report.skipped.append(f"{key}: no {source_key} in the file")
                continue
            value = ckpt.state_dict[source_key]
            reason = _inflate_into(tensor, value)
            if reason:
                report.skipped.append(f"{key}: {reason}")
                continue
            used.add(source_key)
            report.loaded += 1
            report.inflated += int(tensor.dim() == 5)
    unused = [k for k in ckpt.state_dict if k not in used]
    if unused:
        report.skipped.append(f"unused from the file: {', '.join(unused[:4])}"
                              + (f" (+{len(unused) - 4})" if len(unused) > 4 else ""))
    report.reinitialised.append(f"{spec.recipe.init.classifier} and everything not loaded "
                                "(reference initialisation)")
    return report


def _inflate_into(target: torch.Tensor, value: torch.Tensor) -> str | None:
    """Copy (or inflate) ``value`` into ``target`` in place; the reason when it cannot."""
    if target.shape == value.shape:
        target.copy_(value.to(target.dtype))
        return None
    if target.dim() == 5 and value.dim() == 4:
        out_c, in_c, kt, kh, kw = target.shape
        if value.shape[0] != out_c or value.shape[2:] != (kh, kw):
            return f"2D shape {list(value.shape)} vs {list(target.shape)}"
        if in_c < value.shape[1]:
            return f"fewer input channels ({in_c}) than the 2D weight's {value.shape[1]}"
        if in_c > value.shape[1]:  # slow-path conv that also takes lateral channels
            pad = value.new_zeros((out_c, in_c - value.shape[1], kh, kw))
            value = torch.cat([value, pad], dim=1)
        target.copy_((value.unsqueeze(2).expand(-1, -1, kt, -1, -1) / kt).to(target.dtype))
        return None
    return f"shape {list(value.shape)} vs {list(target.shape)}"

