"""Precise BN: BatchNorm statistics recomputed with the final weights before validating and saving.

PySlowFast (``BN.USE_PRECISE_STATS``, PySlowFast@9839d13 ``tools/train_net.py``
``calculate_and_update_precise_bn``, fvcore ``update_bn_stats``) runs ``NUM_BATCHES_PRECISE``
training batches forward in train mode with every BN's momentum set to cumulative averaging, so
the running mean and variance become the averages over those batches under the final weights.
Without it a short run's eval-mode accuracy can sit at chance while its training loss is near
zero: the running statistics still describe the weights of many steps ago. Under DDP each process
averages over its own batches and the results are then averaged over processes.
"""

from __future__ import annotations

import torch
from torch import nn

from actionzoo.runtime.distributed import DistContext

__all__ = ["recompute_bn_statistics"]


def _norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats]


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, loader, num_batches: int, device: torch.device,
                            ctx: DistContext) -> int:
    """Replace every BN's running statistics by their average over ``num_batches`` batches of
    ``loader``; returns how many batches were used (the same number on every process)."""
    norms = _norms(model)
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the batches below
    was_training = model.training
    model.train()
    used = 0
    for batch in loader:
        if used >= num_batches:
            break
        ready = torch.tensor([1.0 if len(batch) else 0.0])
        if ctx.all_reduce_sum(ready).item() < ctx.world_size:
            continue  # a process has nothing to run this round: all skip it together
        clips = batch.clips.to(device)
        module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        if batch.boxes is not None:
            module(clips, batch.boxes.to(device))
        else:
            module(clips)
        used += 1
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        ctx.all_reduce_mean(m.running_mean)
        ctx.all_reduce_mean(m.running_var)
    model.train(was_training)
    return used
