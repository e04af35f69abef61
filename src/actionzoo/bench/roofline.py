"""How close an engine runs to what the machine can do: achieved GFLOP/s against a measured
matrix-multiply peak.

The peak is probed once per run on the engine's threads, in fp32 or bf16/fp16 as the engine
computes: the same large matrix multiply through torch's two GEMM libraries, ``a @ b`` (MKL or
OpenBLAS) and a 1x1x1 ``Conv3d`` (oneDNN), and the faster one counts. One route alone can be half
the machine: on an AMD EPYC with full-width AVX-512, MKL's sgemm ran at 237 GFLOP/s on 2 cores and
oneDNN's at 384, and convolutions through oneDNN ran past the sgemm figure. INT8 has none: torch's int8 matrix multiply
(``torch._int_mm``) is not the kernel OpenVINO's int8 convolutions use, and they ran past it here
(R(2+1)D INT8 at 176 % of it), so it would not be a peak. The work of one clip is the model's
multiply-adds at the actual input shape (counted with torch's FlopCounterMode, which counts two
FLOPs per multiply-add, the convention of the peak too). ``achieved / peak`` near 100 % says the
machine, not the engine, is the limit; far below says there is headroom (depthwise convolutions,
layout reorders, memory-bound layers).
"""

from __future__ import annotations

import time
from functools import lru_cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from actionzoo.runtime.cpu_precision import SLOWEST_USABLE, cpu_slowdown
from actionzoo.runtime.precisions import Precision
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["matmul_peak_gflops", "gflop_per_clip", "count_gflop"]


def _best_gflops(op, flop: float, min_seconds: float) -> float:
    op()
    best = float("inf")
    spent = 0.0
    while spent < min_seconds:
        start = time.perf_counter()
        op()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
    return flop / best / 1e9


def _time_matmul(n: int, dtype: torch.dtype, min_seconds: float) -> float:
    """The faster of the two routes for one ``n x n x n`` GEMM (``n`` a multiple of 64)."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    flop = 2.0 * n**3
    routes = [lambda: a @ b]
    if n % 64 == 0:  # the same GEMM as a pointwise convolution: n channels over n positions
        frames = b.reshape(1, n, n // 64, 8, 8)
        weight = a.reshape(n, n, 1, 1, 1)
        routes.append(lambda: torch.nn.functional.conv3d(frames, weight))
    best = 0.0
    for op in routes:
        try:
            best = max(best, _best_gflops(op, flop, min_seconds / len(routes)))
        except (RuntimeError, NotImplementedError):  # no kernel for this dtype on this route
            continue
    if best == 0.0:
        raise RuntimeError(f"no {dtype} matrix multiply here")
    return best


@lru_cache(maxsize=None)
def matmul_peak_gflops(precision: Precision | str = Precision.FP32, threads: int | None = None,
                       n: int = 2048, min_seconds: float = 1.0) -> float | None:
    """The best GFLOP/s of an ``n x n`` matrix multiply in ``precision`` on ``threads`` threads
    (None where this torch build or CPU has no such kernel)."""
    precision = Precision.of(precision)
    dtype = precision.torch_dtype  # int8 has no matmul peak of its own here
    if dtype is None:
        return None
    if cpu_slowdown(precision) > SLOWEST_USABLE:
        return None  # no native kernel: the fallback's minutes-long GEMM would be no peak either
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            return _time_matmul(n, dtype, min_seconds)
    except (RuntimeError, NotImplementedError):
        return None
    finally:
        torch.set_num_threads(previous)


def gflop_per_clip(spec: ModelSpec, shape: tuple[int, ...], boxes_per_clip: int = 1) -> float:
    """GFLOP (2 per multiply-add) of one clip of ``shape`` (C, T, H, W) through ``spec``'s model."""
    return _gflop(spec.name, tuple(shape), boxes_per_clip)


@lru_cache(maxsize=None)
def _gflop(name: str, shape: tuple[int, ...], boxes_per_clip: int) -> float:
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(name)
    if spec.task is Task.DETECTION:
        model = spec.builder(spec.num_classes).eval()  # RoIAlign needs real box values
        h, w = shape[2], shape[3]
        boxes = torch.tensor([[0.0, 4.0, 4.0, w - 4.0, h - 4.0]] * boxes_per_clip)
        inputs = (torch.zeros(1, *shape), boxes)
    else:
        with torch.device("meta"):
            model = spec.builder(spec.num_classes).eval()
        inputs = (torch.empty(1, *shape, device="meta"),)
    return count_gflop(model, *inputs)


def count_gflop(model: torch.nn.Module, *inputs: torch.Tensor) -> float:
    """GFLOP (2 per multiply-add) of ``model(*inputs)``, counted by running it once (on the meta
    device when the inputs are meta tensors)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() / 1e9
