"""Running on several processes under ``torchrun``: set-up from its environment, and the few
collective operations training and evaluation need.

``torchrun --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT] -m actionzoo ...`` sets
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_distributed`
reads them and joins the process group (NCCL when the processes use CUDA devices, gloo on CPUs).
Without them it returns a single-process context, so every code path runs the same way on one
process. Only global rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from actionzoo.errors import UsageError

T = TypeVar("T")

__all__ = ["DistContext", "init_distributed", "SINGLE", "gather_items"]


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None  # None: not distributed

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_gather_object(self, value: object) -> list[object]:
        """``value`` of every rank, in rank order (the value itself on one process)."""
        if not self.distributed:
            return [value]
        gathered: list[object] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast_object(self, value: object) -> object:
        """Rank 0's ``value`` on every rank."""
        if not self.distributed:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _reduce(self, tensor: torch.Tensor, op=None) -> torch.Tensor:
        if not self.distributed:
            return tensor
        # NCCL reduces CUDA tensors only; gloo takes CPU tensors.
        device = torch.device("cuda", self.local_rank) if self.backend == "nccl" else tensor.device
        moved = tensor.to(device)
        dist.all_reduce(moved, op=dist.ReduceOp.SUM if op is None else op)
        tensor.copy_(moved.to(tensor.device))
        return tensor

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """In place: the mean of ``tensor`` over ranks."""
        self._reduce(tensor)
        if self.distributed:
            tensor /= self.world_size
        return tensor

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """In place: the sum of ``tensor`` over ranks."""
        return self._reduce(tensor)

    def all_reduce_max(self, tensor: torch.Tensor) -> torch.Tensor:
        """In place: the element-wise maximum of ``tensor`` over ranks."""
        return self._reduce(tensor, dist.ReduceOp.MAX)

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (BN running statistics) on every rank, so that what every rank
        validates is what rank 0 saves (mmaction2's DistEvalHook ``broadcast_bn_buffer``).
        Only the buffers a state dict holds: a non-persistent one is a process's own."""
        if not self.distributed:
            return
        persistent = [b for m in module.modules() for name, b in m._buffers.items()
                      if b is not None and name not in m._non_persistent_buffers_set]
        for buffer in persistent:
            device = torch.device("cuda", self.local_rank) if self.backend == "nccl" else buffer.device
            moved = buffer.to(device)
            dist.broadcast(moved, src=0)
            buffer.copy_(moved.to(buffer.device))

    def shard(self, items: list) -> list:
        """This rank's share: every ``world_size``-th item from its rank on. Shares never overlap
        and together hold every item exactly once (no padding, so nothing is counted twice)."""
        return items[self.rank :: self.world_size]

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = DistContext()


def gather_items(ctx: DistContext, items: Sequence[T]) -> list[T]:
    """Every process's ``items``, concatenated in rank order, on every process.

    The one gather across ranks: evaluators collect their items with it, training collects the
    names of unreadable samples and the per-rank values it must agree on. Items are pickled
    (``all_gather_object``), so they may differ in size per rank, as PySlowFast's
    ``all_gather_unaligned`` allows; shards never overlap (:meth:`DistContext.shard`), so nothing
    arrives twice.
    """
    if not ctx.distributed:
        return list(items)
    return [item for part in ctx.all_gather_object(list(items)) for item in part]


def init_distributed(device: str = "cpu", timeout_s: float = 1800.0) -> DistContext:
    """Join the process group torchrun describes in the environment (a no-op without one)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    if dist.is_initialized():
        return DistContext(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), world,
                           dist.get_backend())
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device} under torchrun, but this machine has no CUDA device")
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return DistContext(rank, local_rank, world, backend)
