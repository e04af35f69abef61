"""PyTorch as an engine: eager or ``torch.compile``, on the CPU or a CUDA device, fp32 or autocast."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from actionzoo.engines.base import EngineBase, EngineInfo
from actionzoo.errors import UsageError

__all__ = ["TorchEngine", "TORCH_PRECISIONS"]

TORCH_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {name!r}; use cpu or cuda[:index]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name}: this torch build or machine has no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"device {name}: only cpu and cuda are supported")
    return device


class TorchEngine(EngineBase):
    """A ``torch.nn.Module`` in eval mode behind the engine interface.

    ``precision`` other than fp32 runs the forward under autocast (bf16 or fp16); outputs come back
    as float32 either way. ``compile`` wraps the model in ``torch.compile``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        threads: int | None = None,
        compile: bool = False,
        device: str = "cpu",
        precision: str = "fp32",
    ) -> None:
        if precision not in TORCH_PRECISIONS:
            raise UsageError(
                f"the pytorch engine runs {', '.join(TORCH_PRECISIONS)}, not {precision!r}"
            )
        self.device = _device(device)
        if threads:
            torch.set_num_threads(threads)
        self.model = model.eval().to(self.device)
        self._dtype = TORCH_PRECISIONS[precision]
        self._forward = torch.compile(self.model) if compile else self.model
        # Eager Conv3d falls back to a slow unbatched kernel at batch 1 on some CPUs; a duplicate
        # row keeps the fast path and, since rows are independent in eval mode, changes no value.
        self._pad_single = self.device.type == "cpu" and any(
            isinstance(m, torch.nn.Conv3d) for m in self.model.modules())
        self.info = EngineInfo(
            name="pytorch-compile" if compile else "pytorch",
            provider="torch.compile" if compile else "eager",
            device=str(self.device),
            precision=precision,
            threads=torch.get_num_threads() if self.device.type == "cpu" else None,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    @torch.inference_mode()
    def run(self, *inputs: np.ndarray) -> np.ndarray:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in inputs]
        batch = tensors[0].shape[0]
        with self._autocast():
            if batch == 1 and len(tensors) == 1 and self._pad_single:
                out = self._forward(tensors[0].expand(2, *tensors[0].shape[1:]).contiguous())[:1]
            else:
                out = self._forward(*tensors)
        return out.float().cpu().numpy()
