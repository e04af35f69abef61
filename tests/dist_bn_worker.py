"""``python tests/dist_bn_worker.py OUT [MICRO]`` (alone or under torchrun): precise BN and the
buffer broadcast on a tiny float64 model, for tests/test_training_sync.py. Global batch k is
clips[4k : 4k + 4]; rank r of W takes its 4/W consecutive share of it."""

import sys

import torch
from torch import nn

from actionzoo.runtime.distributed import init_distributed
from actionzoo.training.data import Batch
from actionzoo.training.precise_bn import recompute_bn_statistics

if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    out, micro = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None
    ctx = init_distributed("cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                          nn.Conv3d(4, 4, 3, padding=1), nn.BatchNorm3d(4))
    clips = torch.randn(12, 3, 2, 5, 5, generator=torch.Generator().manual_seed(1)) * 2 + 1
    share = 4 // ctx.world_size
    batches = [Batch(clips[k + ctx.rank * share: k + (ctx.rank + 1) * share], torch.zeros(share),
                     None, None, list(range(share))) for k in range(0, 12, 4)]
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    used = recompute_bn_statistics(model, batches, 3, torch.device("cpu"), ctx, micro_batch=micro)
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    # the buffer broadcast: rank 1 starts with other statistics and ends with rank 0's
    if ctx.rank == 1:
        model[1].running_mean.add_(5.0)
    ctx.broadcast_buffers(model)
    equal = ctx.all_gather_object(model[1].running_mean.tolist())
    if ctx.is_main:
        torch.save({"stats": stats, "used": used, "largest_forward": max(seen),
                    "forwards": len(seen), "ranks_equal": all(e == equal[0] for e in equal)}, out)
    ctx.close()
