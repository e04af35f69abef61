"""The references' weight initialisation, for training from scratch and for a re-sized classifier.

* mmaction2 (mmcv ``kaiming_init`` / ``constant_init`` / ``normal_init``; mmaction2@92e5517
  ``mmaction/models/backbones/resnet3d.py`` ``init_weights``, ``heads/*.py``): every conv
  ``kaiming_normal_(mode='fan_out', nonlinearity='relu')`` with bias 0, every BN weight 1 and bias
  0, and with ``zero_init_residual`` the last BN of each residual block (``conv3.bn`` of a
  bottleneck, ``conv2.bn`` of a basic block) set to 0. The classifier ``fc_cls`` is
  ``normal(0, init_std)`` with bias 0.
* PySlowFast (PySlowFast@9839d13 ``slowfast/utils/weight_init_helper.py``): every Conv3d
  ``c2_msra_fill`` (the same kaiming_normal fan_out/relu, bias 0), every BN weight 1 and bias 0
  except the final BN of each residual transform, which is 0 with ``ZERO_INIT_FINAL_BN``; every
  Linear ``normal(0, FC_INIT_STD)`` with bias 0.

Both use the global torch RNG, so ``torch.manual_seed`` makes an initialisation reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from actionzoo.models.mmaction2_layers import BasicBlock, Bottleneck

__all__ = ["InitRule", "initialise", "initialise_classifier"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class InitRule:
    """How a reference initialises one model from scratch."""

    style: Literal["mmaction2", "pyslowfast"]
    classifier: str  # attribute path of the final Linear: "cls_head.fc_cls", "head.projection"
    classifier_std: float  # normal(0, std) for its weight
    zero_init_residual: bool  # the last BN of every residual block starts at 0

    def describe(self) -> str:
        zero = ", last BN of each residual block 0" if self.zero_init_residual else ""
        return (f"{self.style}: conv kaiming_normal(fan_out, relu), BN 1/0{zero}; "
                f"{self.classifier} N(0, {self.classifier_std:g})")


def _kaiming(module: nn.Module) -> None:
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _final_norms(model: nn.Module, style: str) -> list[nn.Module]:
    """The last BN of every residual block, in each reference's naming."""
    found: list[nn.Module] = []
    for module in model.modules():
        if style == "mmaction2":
            if isinstance(module, Bottleneck):
                found.append(module.conv3.bn)
            elif isinstance(module, BasicBlock):
                found.append(module.conv2.bn)
        elif hasattr(module, "c_bn") and hasattr(module, "c"):  # PySlowFast residual transforms
            found.append(module.c_bn)
    return [m for m in found if m is not None]


def classifier_of(model: nn.Module, rule: InitRule) -> nn.Linear:
    return model.get_submodule(rule.classifier)  # type: ignore[return-value]


def initialise_classifier(model: nn.Module, rule: InitRule) -> nn.Linear:
    """Re-draw the final Linear by the reference's rule (a new class count, or from scratch)."""
    fc = classifier_of(model, rule)
    with torch.no_grad():
        nn.init.normal_(fc.weight, 0.0, rule.classifier_std)
        if fc.bias is not None:
            nn.init.zeros_(fc.bias)
    return fc


def initialise(model: nn.Module, rule: InitRule) -> nn.Module:
    """Initialise every parameter of ``model`` as its reference does when training from scratch."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _CONVS):
                _kaiming(module)
            elif isinstance(module, _NORMS):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
                if module.running_mean is not None:
                    module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if rule.zero_init_residual:
            for norm in _final_norms(model, rule.style):
                nn.init.zeros_(norm.weight)
    initialise_classifier(model, rule)
    return model
