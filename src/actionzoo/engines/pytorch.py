"""PyTorch as an engine: eager or ``torch.compile``, on the CPU or a CUDA device, fp32 or autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from actionzoo.engines.base import EngineBase, EngineInfo
from actionzoo.errors import UsageError
from actionzoo.runtime.tuning import remembered

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
        # On some CPUs oneDNN's batch-1 Conv3d path is slow enough that running the row twice is
        # faster; on others it is the other way round (measured: R(2+1)D 0.48x on an AMD EPYC).
        # Whether to pad is measured here once per model, shape and machine (runtime.tuning).
        self._can_pad = self.device.type == "cpu" and any(
            isinstance(m, torch.nn.Conv3d) for m in self.model.modules())
        self._padding: dict[tuple[int, ...], bool] = {}
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

    def _forward_once(self, x: torch.Tensor, pad: bool) -> torch.Tensor:
        if pad:
            return self._forward(x.expand(2, *x.shape[1:]).contiguous())[:1]
        return self._forward(x)

    def pads_batch_one(self, x: torch.Tensor, timer: Callable[[Callable[[], object]], float] | None = None) -> bool:
        """Whether batch-1 calls of this shape run padded to 2 rows: measured (``timer``: seconds
        a call takes, median of a few) and remembered for this model, shape and machine."""
        shape = tuple(x.shape)
        if shape not in self._padding:
            timer = timer or _median_seconds

            def measure() -> dict:
                with self._autocast():
                    plain = timer(lambda: self._forward_once(x, False))
                    padded = timer(lambda: self._forward_once(x, True))
                return {"pad": padded < 0.9 * plain, "plain_s": plain, "padded_s": padded}

            what = {"choice": "pytorch batch-1 padding", "model": type(self.model).__name__,
                    "parameters": sum(p.numel() for p in self.model.parameters()),
                    "shape": list(shape), "threads": torch.get_num_threads(),
                    "precision": self.info.precision}
            choice, _ = remembered(what, measure, default={"pad": False})
            self._padding[shape] = bool(choice["pad"])
        return self._padding[shape]

    @torch.inference_mode()
    def run(self, *inputs: np.ndarray) -> np.ndarray:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in inputs]
        batch = tensors[0].shape[0]
        with self._autocast():
            if batch == 1 and len(tensors) == 1 and self._can_pad:
                out = self._forward_once(tensors[0], self.pads_batch_one(tensors[0]))
            else:
                out = self._forward(*tensors)
        return out.float().cpu().numpy()


def _median_seconds(call: Callable[[], object], repeats: int = 3) -> float:
    import statistics
    import time

    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
