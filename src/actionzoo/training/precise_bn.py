"""Precise BN: BatchNorm statistics recomputed with the final weights before validating and saving.

PySlowFast (``BN.USE_PRECISE_STATS``, PySlowFast@9839d13 ``tools/train_net.py``
``calculate_and_update_precise_bn``, fvcore ``update_bn_stats``) runs ``NUM_BATCHES_PRECISE``
training batches forward in train mode with every BN's momentum set to cumulative averaging, so
the running mean and variance become the averages over those batches under the final weights.
Without it a short run's eval-mode accuracy can sit at chance while its training loss is near
zero: the running statistics still describe the weights of many steps ago.

Here, unlike the reference (each process averages over its own shard), the statistics are those
of one process with the global batch, whatever the number of processes: under DDP every BN
normalises over all processes' clips during these forwards
(:func:`~actionzoo.runtime.sync_batchnorm.synchronised_statistics`), so every process ends with
the same buffers and the saved model is the one validated. With ``--micro-batch`` each batch is
forwarded in micro-batches (as in training: the BN batch is the micro-batch), so precise BN needs
no more memory than a training step. A batch whose micro-batch count differs between processes
(an unreadable sample with nothing readable nearby) is skipped by every process.
"""

from __future__ import annotations

import torch
from torch import nn

from actionzoo.runtime.distributed import DistContext
from actionzoo.runtime.sync_batchnorm import synchronised_statistics

__all__ = ["recompute_bn_statistics"]


def _norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats]


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, loader, num_batches: int, device: torch.device,
                            ctx: DistContext, *, micro_batch: int | None = None) -> int:
    """Replace every BN's running statistics by their average over ``num_batches`` batches of
    ``loader`` (each in micro-batches of ``micro_batch``); returns how many batches were used
    (the same number on every process)."""
    from actionzoo.training.loop import _chunk_count, _micro_batches, _same_on_every_process

    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    norms = _norms(module)
    if not norms:
        return 0
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the batches below
    was_training = module.training
    module.train()
    weights = next(module.parameters()).dtype
    used = 0
    with synchronised_statistics(module) if ctx.distributed else _nothing():
        for batch in loader:
            if used >= num_batches:
                break
            size = micro_batch or max(len(batch), 1)
            if not _same_on_every_process(ctx, _chunk_count(len(batch), size)):
                continue  # the processes would make different collectives: all skip it together
            for chunk in _micro_batches(batch, size):
                clips = chunk.clips.to(device, dtype=weights)
                if chunk.boxes is not None:
                    module(clips, chunk.boxes.to(device, dtype=weights))
                else:
                    module(clips)
            used += 1
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        # equal on every process already (synchronised statistics); averaged for the record
        ctx.all_reduce_mean(m.running_mean)
        ctx.all_reduce_mean(m.running_var)
    module.train(was_training)
    return used


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
