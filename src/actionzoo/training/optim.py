"""The optimizer with the reference's parameter groups, and its learning rate at every iteration.

Parameter groups (each group carries ``lr_mult``; its learning rate is the schedule's value times
that multiplier, as mmcv's LR hooks apply the schedule to each group's own ``initial_lr``):

* ``single`` — mmcv's default constructor (mmcv@7207397d ``runner/optimizer/default_constructor.py``):
  one group, weight decay on every parameter, BN and biases included.
* ``bn_no_decay`` — PySlowFast (PySlowFast@9839d13 ``slowfast/models/optimizer.py``): BN weights
  and biases first with ``BN.WEIGHT_DECAY``, then everything else; an empty group is dropped.
* ``tsm`` — mmaction2@5fa8faa ``TSMOptimizerConstructor`` with ``fc_lr5``: seven groups in this
  order, empty ones kept: first conv weight; first conv bias (lr x2, no decay); other conv and
  non-final Linear weights; their biases (lr x2, no decay); BN weights and biases (no decay);
  final fc weight (lr x5); final fc bias (lr x10, no decay).

Schedules (the LR of iteration ``it``, with ``n`` iterations per epoch):

* ``mmcv`` (mmcv@7207397d ``runner/hooks/lr_updater.py``): the regular value is set per whole
  epoch ``e = it // n`` — cosine ``min + (base - min)(1 + cos(pi e / E)) / 2`` or steps
  ``base * factor`` — and during warm-up (``it < W = warmup_epochs * n``) it is
  ``regular * (1 - (1 - it / W) * (1 - warmup_ratio))``, per iteration.
* ``pyslowfast`` (PySlowFast@9839d13 ``slowfast/utils/lr_policy.py``): computed at the fractional
  epoch ``e = it / n``; cosine ``(base - end)(cos(pi e / E) + 1) / 2 + end``, or relative steps;
  warm-up linear from ``warmup_start_lr`` to the schedule's value at ``warmup_epochs``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from actionzoo.zoo.recipes import OptimizerRecipe, ScheduleRecipe

__all__ = ["parameter_groups", "build_optimizer", "learning_rate", "set_learning_rate"]

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def _norm_parameters(model: nn.Module) -> set[int]:
    ids: set[int] = set()
    for module in model.modules():
        if isinstance(module, _NORMS) or type(module).__name__.endswith("BatchNorm"):
            ids.update(id(p) for p in module.parameters(recurse=False))
    return ids


def parameter_groups(model: nn.Module, recipe: OptimizerRecipe, classifier: str) -> list[dict]:
    """The reference's groups over the trainable parameters: ``{"params", "weight_decay",
    "lr_mult", "name"}``. ``classifier`` is the attribute path of the final Linear."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    norms = _norm_parameters(model)
    if recipe.groups == "single":
        return [{"name": "all", "params": [p for _, p in trainable],
                 "weight_decay": recipe.weight_decay, "lr_mult": 1.0}]
    if recipe.groups == "bn_no_decay":
        bn = [p for _, p in trainable if id(p) in norms]
        rest = [p for _, p in trainable if id(p) not in norms]
        groups = [{"name": "bn", "params": bn, "weight_decay": recipe.bn_weight_decay, "lr_mult": 1.0},
                  {"name": "other", "params": rest, "weight_decay": recipe.weight_decay, "lr_mult": 1.0}]
        return [g for g in groups if g["params"]]
    return _tsm_groups(model, trainable, norms, recipe.weight_decay, classifier)


def _tsm_groups(model: nn.Module, trainable: list, norms: set[int], decay: float,
                classifier: str) -> list[dict]:
    first_conv: nn.Module | None = None
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            first_conv = module
            break
    fc = model.get_submodule(classifier)
    buckets: dict[str, list] = {k: [] for k in
                                ("first_w", "first_b", "w", "b", "bn", "fc_w", "fc_b")}
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        if module is first_conv:
            buckets["first_w"].append(module.weight)
            if module.bias is not None:
                buckets["first_b"].append(module.bias)
        elif module is fc:
            buckets["fc_w"].append(module.weight)
            if module.bias is not None:
                buckets["fc_b"].append(module.bias)
        elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            buckets["w"].append(module.weight)
            if module.bias is not None:
                buckets["b"].append(module.bias)
        elif id(own[0]) in norms:
            buckets["bn"].extend(own)
        else:  # a parameter the reference constructor would refuse; decayed like weights
            buckets["w"].extend(own)
    wanted = {id(p) for _, p in trainable}
    rows = [("first_w", decay, 1.0), ("first_b", 0.0, 2.0), ("w", decay, 1.0), ("b", 0.0, 2.0),
            ("bn", 0.0, 1.0), ("fc_w", decay, 5.0), ("fc_b", 0.0, 10.0)]
    return [{"name": name, "params": [p for p in buckets[name] if id(p) in wanted],
             "weight_decay": wd, "lr_mult": mult} for name, wd, mult in rows]


def build_optimizer(groups: Iterable[dict], recipe: OptimizerRecipe, lr: float) -> torch.optim.SGD:
    """SGD over ``groups`` with the recipe's momentum and Nesterov; ``initial_lr`` is set per group
    (mmcv reads a group's base from it)."""
    groups = list(groups)
    for group in groups:
        group["lr"] = group["initial_lr"] = lr * group["lr_mult"]
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                           weight_decay=0.0)


def _regular(schedule: ScheduleRecipe, base: float, epoch: float) -> float:
    if schedule.policy == "cosine":
        return schedule.min_lr + (base - schedule.min_lr) * 0.5 * (
            1.0 + math.cos(math.pi * epoch / schedule.epochs))
    factor = 1.0
    for step, step_factor in zip(schedule.steps, schedule.step_factors):
        if epoch >= step:
            factor = step_factor
    return base * factor


def learning_rate(schedule: ScheduleRecipe, base: float, iteration: int, iters_per_epoch: int) -> float:
    """The learning rate (multiplier 1) at global iteration ``iteration`` (0-based)."""
    if schedule.style == "mmcv":
        regular = _regular(schedule, base, iteration // iters_per_epoch)
        warmup = schedule.warmup_epochs * iters_per_epoch
        if iteration < warmup:
            return regular * (1.0 - (1.0 - iteration / warmup) * (1.0 - schedule.warmup_ratio))
        return regular
    epoch = iteration / iters_per_epoch
    if epoch < schedule.warmup_epochs:
        start = schedule.warmup_start_lr * base
        end = _regular(schedule, base, schedule.warmup_epochs)
        return start + (end - start) * epoch / schedule.warmup_epochs
    return _regular(schedule, base, epoch)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_mult", 1.0)
