"""Batch norm whose training statistics span every process: ``torch.nn.SyncBatchNorm`` on CUDA,
and this module's own implementation on CPUs (torch's refuses CPU tensors), with gloo.

The CPU version follows torch's semantics exactly: forward uses the mean and biased variance of
the whole global batch (two all-reduces: the sum, then the sum of squared deviations, so the
numbers match a single process's ``BatchNorm`` on the same batch up to reduction order); the
running variance is updated with the unbiased one; backward all-reduces ``sum(dy)`` and
``sum(dy * x_hat)`` so that each rank's input gradient is the one of the global batch. Parameter
gradients stay local sums, which DDP then averages like every other gradient.

Converted modules keep their parameter and buffer names, so state dicts (and checkpoints) are the
same as the plain model's.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["CPUSyncBatchNorm", "convert_sync_batchnorm"]

_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float):  # type: ignore[override]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64)
        total = x.sum(dims).double()
        dist.all_reduce(count)
        dist.all_reduce(total)
        mean = (total / count).to(x.dtype)
        centred = x - mean.view(shape)
        squares = (centred * centred).sum(dims).double()
        dist.all_reduce(squares)
        var = (squares / count).to(x.dtype)
        invstd = torch.rsqrt(var + eps)
        x_hat = centred * invstd.view(shape)
        ctx.save_for_backward(x_hat, weight, invstd, count)
        ctx.dims, ctx.shape = dims, shape
        ctx.mark_non_differentiable(mean, var, count)
        return x_hat * weight.view(shape) + bias.view(shape), mean, var, count

    @staticmethod
    def backward(ctx, dy: Tensor, *_: Tensor):  # type: ignore[override]
        x_hat, weight, invstd, count = ctx.saved_tensors
        dims, shape = ctx.dims, ctx.shape
        sum_dy = dy.sum(dims)
        sum_dy_xhat = (dy * x_hat).sum(dims)
        grad_weight, grad_bias = sum_dy_xhat.clone(), sum_dy.clone()
        both = torch.stack([sum_dy, sum_dy_xhat]).double()
        dist.all_reduce(both)
        mean_dy = (both[0] / count).to(dy.dtype)
        mean_dy_xhat = (both[1] / count).to(dy.dtype)
        grad_x = (weight * invstd).view(shape) * (
            dy - mean_dy.view(shape) - x_hat * mean_dy_xhat.view(shape))
        return grad_x, grad_weight, grad_bias, None


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A drop-in for BatchNorm{1,2,3}d that normalises over the global batch in training."""

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        y, mean, var, count = _SyncBatchNormFunction.apply(x, self.weight, self.bias, self.eps)
        with torch.no_grad():
            self.num_batches_tracked += 1
            momentum = self.momentum if self.momentum is not None else \
                1.0 / float(self.num_batches_tracked)
            n = float(count.item())
            unbiased = var * (n / max(n - 1.0, 1.0))
            self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        return y


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> tuple[nn.Module, int]:
    """Replace every BatchNorm with a synchronised one (torch's on CUDA, :class:`CPUSyncBatchNorm`
    on CPU); returns the model and how many were converted."""
    if device.type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return converted, sum(isinstance(m, nn.SyncBatchNorm) for m in converted.modules())
    count = 0

    def swap(parent: nn.Module) -> None:
        nonlocal count
        for name, child in parent.named_children():
            if isinstance(child, _PLAIN):
                synced = CPUSyncBatchNorm(child.num_features, child.eps, child.momentum,
                                          child.affine, child.track_running_stats)
                synced.load_state_dict(child.state_dict())
                synced.train(child.training)
                setattr(parent, name, synced)
                count += 1
            else:
                swap(child)

    swap(model)
    return model, count
