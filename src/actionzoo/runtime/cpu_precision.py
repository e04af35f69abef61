"""Whether this CPU runs torch's bf16 and fp16 at a usable speed, measured once per machine.

torch runs bf16/fp16 convolutions through oneDNN only where the CPU has native kernels for them
(AVX512-BF16, AMX, AVX512-FP16). Elsewhere autocast falls back to generic kernels. On a 2-core AMD
EPYC with AVX2 and torch 2.13, those ran 2.6x (Linear), 18x (Conv2d) and up to 170x (Conv3d)
slower than fp32 (``benchmarks/cpu_reduced_precision.py``), so an eval that takes a minute in fp32
would take hours. A CPU's flags do not say which kernels a torch build has, so the speed is
measured: one small Conv3d in fp32 and under autocast, the ratio remembered per machine and torch
version (:mod:`actionzoo.runtime.tuning`). Above
:data:`SLOWEST_USABLE` the PyTorch engine and ``train --amp`` refuse that precision, with the figure,
unless ``ACTIONZOO_ALLOW_SLOW_PRECISION=1`` (measuring bf16's drift on a CPU before a GPU run is
worth the wait).
"""

from __future__ import annotations

import os

import torch

from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision
from actionzoo.runtime.timing import fastest_seconds
from actionzoo.runtime.tuning import cpu_flags, remembered

__all__ = ["SLOWEST_USABLE", "ALLOW_SLOW", "slowdown_key", "cpu_slowdown", "require_usable_on_cpu",
           "cpu_flags_for"]

# Measured: with native kernels (AVX512-BF16 EPYC) bf16 training steps took 0.45-0.9x fp32's time;
# without (AVX2 EPYC) layers took 2.6x (Linear) to 170x (Conv3d), this probe 45-73x.
SLOWEST_USABLE = 4.0
ALLOW_SLOW = "ACTIONZOO_ALLOW_SLOW_PRECISION"
# The CPU flags that carry native kernels for each autocast precision (what the error reports).
_FLAGS = {Precision.BF16: ("avx512_bf16", "amx_bf16"), Precision.FP16: ("avx512_fp16", "amx_fp16")}


def _measure(precision: Precision) -> dict:
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(16, 16, 3, padding=1)
    clip = torch.randn(2, 16, 4, 16, 16)
    dtype = precision.autocast_dtype

    def reduced() -> None:
        with torch.autocast("cpu", dtype=dtype):
            conv(clip)

    with torch.inference_mode():
        fp32 = fastest_seconds(lambda: conv(clip), 5)
        slow = fastest_seconds(reduced, 3)
    return {"slowdown": round(slow / fp32, 2)}


def slowdown_key(precision: Precision | str) -> dict:
    """What the measured slowdown is stored under (:func:`actionzoo.runtime.tuning.remembered`)."""
    return {"choice": "cpu autocast slowdown", "precision": Precision.of(precision).value}


def cpu_slowdown(precision: Precision | str) -> float:
    """How many times slower a Conv3d runs on this CPU under ``precision`` autocast than in fp32
    (1.0 for fp32, and for int8, which autocast does not run), measured on first use and
    remembered."""
    precision = Precision.of(precision)
    if precision.autocast_dtype is None:
        return 1.0
    choice, _ = remembered(slowdown_key(precision), lambda: _measure(precision))
    return float(choice["slowdown"])


def cpu_flags_for(precision: Precision | str) -> tuple[str, ...]:
    """Which of the CPU flags that carry native ``precision`` kernels this CPU reports."""
    flags = cpu_flags()
    return tuple(f for f in _FLAGS.get(precision, ()) if f in flags)


def require_usable_on_cpu(precision: Precision | str, what: str) -> None:
    """Raise a one-line :class:`UsageError` when ``precision`` runs too slowly on this CPU."""
    precision = Precision.of(precision)
    if precision.autocast_dtype is None or os.environ.get(ALLOW_SLOW) == "1":
        return
    slowdown = cpu_slowdown(precision)
    if slowdown <= SLOWEST_USABLE:
        return
    flags = cpu_flags_for(precision)
    has = f"it reports {', '.join(flags)}" if flags else \
        f"it has none of {', '.join(_FLAGS[precision])}"
    raise UsageError(
        f"{what} {precision} on this CPU: a Conv3d measured {slowdown:.0f}x slower than in fp32 "
        f"(torch {torch.__version__} has no fast {precision} kernels here; {has}); "
        f"use fp32, or set {ALLOW_SLOW}=1 to run it anyway"
    )
