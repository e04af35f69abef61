"""``--bn-batch N``: BatchNorm statistics over groups of N clips, whatever ``--batch-size``,
``--micro-batch`` and the number of processes, as PySlowFast's sub-batch BN does.

The reference (facebookresearch/SlowFast @1aebd71, ``slowfast/models/batchnorm_helper.py``,
``SubBatchNorm3d``, ``BN.NORM_TYPE sub_batchnorm`` with ``BN.NUM_SPLITS``) views a forward of
``B`` clips as ``(B / G, G * C, ...)`` and runs one BN over it: split ``j`` holds the clips
``i`` with ``i % G == j``, and each is normalised with its own mean and variance. Each split keeps
its own running statistics (a BN of ``G * C`` channels, momentum as usual); before evaluating and
saving, ``aggregate_stats`` folds them into one BN: the mean of the split means, and the mean of
the split variances plus the variance of the split means. Its checkpoints hold the folded BN
(``sub_to_normal_bn`` in ``slowfast/utils/checkpoint.py``), so they load as plain BN.

:class:`GroupedBatchNorm` does the same, swapped in for every BN layer by the training code (the
model classes stay untouched):

* **the forward**: ``G = clips / N`` groups, split as the reference splits (``i % G``); the
  affine weight and bias are shared (one set, as the reference keeps);
* **the running statistics**: the per-group ones are updated exactly as a plain BN run on that
  group alone would update its own (the reference's split BN); they are folded into
  ``running_mean`` / ``running_var`` by the reference's rule after every training forward, so the
  layer's state dict -- the same keys as the plain BN it replaced (the per-group statistics are
  non-persistent buffers) -- always holds the folded statistics, and a checkpoint loads for eval
  as a plain model. A forward of another size than the run's clips per forward (a partial last
  batch) is normalised in groups of N (the remainder as one smaller group) and leaves the
  statistics alone: the per-group buffers have one shape per run;
* **across processes**: when N is more than the clips of one forward, a group is the forward
  of ``N / clips`` consecutive ranks, synchronised among themselves (as PySlowFast's
  ``NaiveSyncBatchNorm3d`` with ``BN.NUM_SYNC_DEVICES``): the statistics of the group are those of
  one process with N clips. When N is at most the clips of one forward, every group lies in one
  process and nothing is synchronised. With torchrun's interleaved shares
  (:class:`~actionzoo.training.data.EpochSampler`), the ``i % G`` split makes P processes form
  exactly the groups one process with the P-times larger forward forms.

Running statistics over processes: each process keeps the statistics of its own groups (DDP
does not broadcast them: :func:`ddp_ignored_buffers`), and before validating and saving
:func:`fold_across_processes` folds every process's groups together, by the same rule. So P
processes end with the statistics of one process whose forward holds all P processes' groups
(PySlowFast's DDP instead broadcasts rank 0's split statistics before every forward, so its
folded statistics are rank 0's groups only; this choice keeps "N processes = one process" true
for every tensor, as for sync BN). Checkpoints carry every process's per-group statistics beside
the folded ones (:func:`fold_across_processes` returns them), so a resumed run with as many
processes goes on with the same statistics an uninterrupted run has, to the bit; with another
process count they restart from the folded ones (the weights are not affected either way).
BNs directly inside a module whose class says ``sync_bn = False`` (R(2+1)D's ``Conv2plus1d``
inner BN) stay plain BN over each forward, as they stay out of sync BN.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from actionzoo.runtime.sync_batchnorm import sync_batch_norm, take_over

__all__ = ["GroupedBatchNorm", "use_grouped_batchnorm", "rank_groups", "fold_across_processes",
           "restore_group_statistics", "ddp_ignored_buffers"]

_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class GroupedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BN over groups of ``group_size`` clips (module doc); a drop-in for the plain BN layer
    ``like``, whose parameters and buffers it copies (the same state-dict keys)."""

    own_statistics = True  # precise BN under DDP keeps these groups (runtime.sync_batchnorm)

    def __init__(self, like: nn.modules.batchnorm._BatchNorm, group_size: int, groups: int, *,
                 process_group: object = None, span: int = 1) -> None:
        super().__init__(like.num_features, like.eps, like.momentum, like.affine,
                         like.track_running_stats)
        take_over(self, like)
        self.group_size, self.groups, self.span = group_size, groups, span
        self.process_group = process_group
        channels = like.num_features * groups
        like_tensor = next(iter(self.state_dict().values()), None)
        kw = dict(device=like_tensor.device if like_tensor is not None else None,
                  dtype=self.running_mean.dtype if self.running_mean is not None else None)
        # the groups' own running statistics (the reference's split_bn); not in the state dict
        self.register_buffer("group_mean", torch.zeros(channels, **kw), persistent=False)
        self.register_buffer("group_var", torch.ones(channels, **kw), persistent=False)
        self._start_groups_from_folded()

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", group_size={self.group_size}, groups={self.groups}" + (
            f", span={self.span} processes" if self.span > 1 else "")

    @torch.no_grad()
    def _start_groups_from_folded(self) -> None:
        if self.track_running_stats:
            self.group_mean.copy_(self.running_mean.repeat(self.groups))
            self.group_var.copy_(self.running_var.repeat(self.groups))

    def reset_running_stats(self) -> None:
        super().reset_running_stats()
        if hasattr(self, "group_mean"):  # (the base __init__ calls this before they exist)
            self.group_mean.zero_()
            self.group_var.fill_(1.0)

    @torch.no_grad()
    def fold_statistics(self, means: Tensor | None = None, variances: Tensor | None = None) -> None:
        """``running_mean`` / ``running_var`` from the groups' (the reference's
        ``aggregate_stats``): mean of the means; mean of the variances + variance of the means.
        ``means`` / ``variances``: ``(groups, C)`` of several processes (default: this one's)."""
        if not self.track_running_stats:
            return
        if means is None or variances is None:
            means = self.group_mean.view(self.groups, -1)
            variances = self.group_var.view(self.groups, -1)
        mean = means.mean(0)
        var = variances.mean(0) + (means - mean).square().mean(0)
        self.running_mean.copy_(mean)
        self.running_var.copy_(var)

    def _factor(self) -> float:
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative average (precise BN sets this)
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        if self.span > 1:
            return self._forward_across_processes(x)
        clips = x.shape[0]
        tracked = self.track_running_stats and clips == self.groups * self.group_size
        whole = clips - clips % self.group_size
        if whole == clips:
            return self._grouped(x, tracked)
        parts = ([self._grouped(x[:whole], False)] if whole else []) + [
            F.batch_norm(x[whole:], None, None, self.weight, self.bias, True, 0.0, self.eps)]
        return torch.cat(parts)

    def _grouped(self, x: Tensor, tracked: bool) -> Tensor:
        clips, channels = x.shape[:2]
        groups = clips // self.group_size
        # clip i of the forward -> group i % G, as the reference's view does (free: no copy)
        split = x.reshape(self.group_size, groups * channels, *x.shape[2:])
        weight = self.weight.repeat(groups) if self.affine else None
        bias = self.bias.repeat(groups) if self.affine else None
        if tracked:
            y = F.batch_norm(split, self.group_mean, self.group_var, weight, bias, True,
                             self._factor(), self.eps)
            self.fold_statistics()
        else:
            y = F.batch_norm(split, None, None, weight, bias, True, 0.0, self.eps)
        return y.reshape(x.shape)

    def _forward_across_processes(self, x: Tensor) -> Tensor:
        y, mean, var, count = sync_batch_norm(x, self.weight, self.bias, self.eps,
                                              self.process_group)
        if self.track_running_stats and x.shape[0] * self.span == self.group_size:
            with torch.no_grad():
                factor = self._factor()
                n = float(count.item())
                unbiased = var * (n / max(n - 1.0, 1.0))
                self.group_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.group_var.mul_(1 - factor).add_(unbiased.detach(), alpha=factor)
                self.fold_statistics()
        return y


def rank_groups(world_size: int, span: int, rank: int) -> object:
    """The process group of ``rank``'s block of ``span`` consecutive ranks. Every rank creates
    every block (``torch.distributed.new_group`` is collective), in the same order."""
    blocks = [dist.new_group(list(range(start, start + span)))
              for start in range(0, world_size, span)]
    return blocks[rank // span]


def _grouped(model: nn.Module) -> list[tuple[str, GroupedBatchNorm]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, GroupedBatchNorm)]


def ddp_ignored_buffers(model: nn.Module) -> list[str]:
    """The per-group statistics' names, for DDP to leave alone (each process keeps its own)."""
    return [f"{name}.{buffer}" for name, m in _grouped(model) for buffer in ("group_mean", "group_var")]


@torch.no_grad()
def fold_across_processes(model: nn.Module) -> dict[str, Tensor]:
    """Every grouped BN's running statistics folded from the groups of every process (the same
    result on each; one all-gather per layer), and those groups' statistics as they stand, by
    layer: ``(processes, 2, groups * C)`` (means, variances), for the checkpoint. Collective
    under torchrun: every process calls it."""
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    by_layer: dict[str, Tensor] = {}
    for name, m in _grouped(model):
        if not m.track_running_stats:
            continue
        local = torch.stack([m.group_mean, m.group_var])
        if world == 1:
            by_layer[name] = local.unsqueeze(0).cpu()
            continue
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        every = torch.stack(parts)
        by_layer[name] = every.cpu()
        every = every.view(world, 2, m.groups, -1)
        # processes of one spanning group hold the same statistics: counted equally, the folded
        # mean and variance do not change
        m.fold_statistics(every[:, 0].reshape(world * m.groups, -1),
                          every[:, 1].reshape(world * m.groups, -1))
    return by_layer


@torch.no_grad()
def restore_group_statistics(model: nn.Module, saved: dict[str, Tensor], rank: int,
                             world: int) -> str | None:
    """This process's per-group statistics from what :func:`fold_across_processes` returned when
    the checkpoint was written. None when restored; otherwise why not (they then stay started
    from the folded statistics, which the state dict restored)."""
    layers = {name: m for name, m in _grouped(model) if m.track_running_stats}
    if not layers:
        return None
    if not saved:
        return "the checkpoint holds no per-group statistics"
    if set(saved) != set(layers):
        return "the checkpoint's grouped BN layers are not this model's"
    for name, m in layers.items():
        rows = saved[name]
        want = (world, 2, m.group_mean.numel())
        if not isinstance(rows, Tensor) or rows.dim() != 3:
            return f"{name}: its per-group statistics are not a 3-d tensor"
        if rows.shape[0] != world:
            return f"they were written by {rows.shape[0]} process(es), this run has {world}"
        if tuple(rows.shape) != want:
            return f"{name}: per-group statistics of shape {tuple(rows.shape)}, this run's are {want}"
    for name, m in layers.items():
        m.group_mean.copy_(saved[name][rank, 0])
        m.group_var.copy_(saved[name][rank, 1])
    return None


def use_grouped_batchnorm(model: nn.Module, group_size: int, clips_per_forward: int, *,
                          process_group: object = None, span: int = 1) -> int:
    """Swap every plain BN of ``model`` for a :class:`GroupedBatchNorm` (in place); returns how
    many. ``clips_per_forward`` is one process's forward (the micro-batch); with ``span`` > 1 a
    group is the forwards of ``span`` processes together (``process_group``)."""
    groups = 1 if span > 1 else clips_per_forward // group_size
    count = 0

    def swap(parent: nn.Module) -> None:
        nonlocal count
        for name, child in parent.named_children():
            if isinstance(child, _PLAIN) and getattr(parent, "sync_bn", True):
                setattr(parent, name, GroupedBatchNorm(child, group_size, groups,
                                                       process_group=process_group, span=span))
                count += 1
            else:
                swap(child)

    swap(model)
    return count
