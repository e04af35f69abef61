"""Batch norm whose training statistics span every process: ``torch.nn.SyncBatchNorm`` on CUDA,
and this module's own implementation on CPUs (torch's refuses CPU tensors), with gloo.

The CPU version follows torch's semantics: forward uses the mean and biased variance of the whole
global batch (two all-reduces: the sum, then the sum of squared deviations); the running variance
is updated with the unbiased one; backward all-reduces ``sum(dy)`` and ``sum(dy * x_hat)`` so
that each rank's input gradient is the one of the global batch. Parameter gradients stay local
sums, which DDP then averages like every other gradient.

Why it is also used on ONE process when ``--sync-bn`` is asked for (see
:func:`convert_sync_batchnorm`): the gradients of a deep network are ill-conditioned in float32.
Measured on X3D-S (torch 2.13 CPU, 4 clips, BN weights drawn in [0.5, 1.5]): one process with
``nn.BatchNorm3d`` and two processes with this module give gradients 1.8e-2 apart (relative, per
tensor), while in float64 the same two runs agree to 2e-12 -- the maths is the same, and each
float32 run is itself ~1.8e-2 from the float64 gradient. A one-ulp difference in how a BN layer
rounds is amplified by the backward pass. So N processes can equal one only if both run the same
arithmetic per element: this function, with every per-channel sum accumulated in float64 (as
torch's CPU kernel accumulates), so that the all-reduced sums round to the same float32 as the
one-process sums. The remaining difference is the order of the conv weight-gradient sums over
the batch, which is not amplified within a step.

Converted modules keep their parameter and buffer names, so state dicts (and checkpoints) are the
same as the plain model's.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["CPUSyncBatchNorm", "convert_sync_batchnorm", "take_over", "synced_forward",
           "synchronised_statistics", "sync_batch_norm"]

_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _all_reduce(tensor: Tensor, group: object = None) -> Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1:
        dist.all_reduce(tensor, group=group)
    return tensor


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float,  # type: ignore[override]
                group: object = None):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        local = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device)
        stats = torch.cat([local, x.sum(dims, dtype=torch.float64)])
        _all_reduce(stats, group)  # the count and the per-channel sums in one collective
        count, total = stats[:1], stats[1:]
        mean = (total / count).to(x.dtype)
        centred = x - mean.view(shape)
        squares = _all_reduce(centred.square().sum(dims, dtype=torch.float64), group)
        var64 = squares / count
        invstd = torch.rsqrt(var64 + eps).to(x.dtype)
        x_hat = centred * invstd.view(shape)
        ctx.save_for_backward(x_hat, weight, invstd, count)
        ctx.dims, ctx.shape, ctx.group = dims, shape, group
        var = var64.to(x.dtype)
        ctx.mark_non_differentiable(mean, var, count)
        return x_hat * weight.view(shape) + bias.view(shape), mean, var, count

    @staticmethod
    def backward(ctx, dy: Tensor, *_: Tensor):  # type: ignore[override]
        x_hat, weight, invstd, count = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        sum_dy = dy.sum(dims, dtype=torch.float64)
        sum_dy_xhat = (dy * x_hat).sum(dims, dtype=torch.float64)
        grad_weight, grad_bias = sum_dy_xhat.to(dy.dtype), sum_dy.to(dy.dtype)
        both = _all_reduce(torch.stack([sum_dy, sum_dy_xhat]), ctx.group)
        mean_dy = (both[0] / count).to(dy.dtype)
        mean_dy_xhat = (both[1] / count).to(dy.dtype)
        grad_x = (weight * invstd).view(shape) * (
            dy - mean_dy.view(shape) - x_hat * mean_dy_xhat.view(shape))
        return grad_x, grad_weight, grad_bias, None, None


def sync_batch_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float,
                    group: object = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Batch norm of ``x`` over the batches of every process in ``group`` (all when None):
    ``(y, mean, biased var, count)``, differentiable in ``x``, ``weight`` and ``bias``."""
    return _SyncBatchNormFunction.apply(x, weight, bias, eps, group)


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A drop-in for BatchNorm{1,2,3}d that normalises over the global batch in training (over
    this process's batch when there is no process group: the same arithmetic either way)."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: Tensor) -> Tensor:
        return synced_forward(self, x)


def synced_forward(self: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """A BN layer's forward with training statistics over every process (any _BatchNorm)."""
    if not self.training or not self.affine:
        return nn.modules.batchnorm._BatchNorm.forward(self, x)
    y, mean, var, count = _SyncBatchNormFunction.apply(x, self.weight, self.bias, self.eps)
    if self.track_running_stats:
        with torch.no_grad():
            self.num_batches_tracked += 1
            momentum = self.momentum if self.momentum is not None else \
                1.0 / float(self.num_batches_tracked)
            n = float(count.item())
            unbiased = var * (n / max(n - 1.0, 1.0))
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
    return y


@contextmanager
def synchronised_statistics(model: nn.Module) -> Iterator[None]:
    """Within the block, every BN layer of ``model`` computes its training statistics over every
    process (precise BN under DDP: the statistics of one process with the global batch)."""
    patched = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
                module, (CPUSyncBatchNorm, nn.SyncBatchNorm)) and not getattr(
                module, "own_statistics", False):  # e.g. --bn-batch's groups: kept as they are
            module.forward = types.MethodType(synced_forward, module)
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward  # the class's forward again


def take_over(layer: nn.modules.batchnorm._BatchNorm, like: nn.modules.batchnorm._BatchNorm) -> None:
    """Give ``layer`` (a BN replacing ``like``) its parameters, buffers, train/eval mode, dtype
    and device: a float64 model stays float64."""
    first = next(iter(like.state_dict().values()), None)
    if first is not None:
        layer.to(device=first.device, dtype=like.running_mean.dtype
                 if like.running_mean is not None else first.dtype)
    layer.load_state_dict(like.state_dict())
    layer.train(like.training)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> tuple[nn.Module, int]:
    """Replace every BatchNorm with a synchronised one (torch's on CUDA, :class:`CPUSyncBatchNorm`
    on CPU); returns the model and how many were converted. BNs directly inside a module whose
    class says ``sync_bn = False`` stay plain (R(2+1)D's inner ``Conv2plus1d`` BN, as in the
    reference)."""
    count = 0

    def swap(parent: nn.Module) -> None:
        nonlocal count
        for name, child in parent.named_children():
            if isinstance(child, _PLAIN) and getattr(parent, "sync_bn", True):
                if device.type == "cuda":
                    synced = nn.SyncBatchNorm(child.num_features, child.eps, child.momentum,
                                              child.affine, child.track_running_stats)
                else:
                    synced = CPUSyncBatchNorm(child.num_features, child.eps, child.momentum,
                                              child.affine, child.track_running_stats)
                take_over(synced, child)
                setattr(parent, name, synced)
                count += 1
            else:
                swap(child)

    swap(model)
    return model, count
