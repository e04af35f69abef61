"""What every engine is: :class:`Engine` runs model inputs, :class:`EngineInfo` says how.

An engine takes a batch of model inputs as numpy float32 arrays (batch first) and returns the
model's output as a float32 array. Its :class:`EngineInfo` names the engine, the execution
provider, the device and the precision it really computes in, read back from the runtime where the
runtime can change it. Results stores and benchmark rows key on all four, so a CUDA run never
resumes a CPU run's results and a bf16 figure never stands beside an fp32 one unlabelled.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["EngineInfo", "Engine", "EngineBase", "default_threads", "info_of", "is_asynchronous",
           "submit"]


@dataclass(frozen=True)
class EngineInfo:
    name: str  # the engine table's name: "pytorch", "onnxruntime", "openvino", ...
    provider: str  # what executes: "eager", "torch.compile", "CPUExecutionProvider", "CPU plugin"
    device: str  # "cpu", "cuda:0"
    precision: str  # what the runtime really computes in: "fp32", "bf16", "fp16", "int8"
    threads: int | None = None
    settings: tuple[tuple[str, str], ...] = field(default=())  # other choices that change speed
    label: str | None = None  # the engine's own description, when it gives one

    def key(self) -> dict[str, str]:
        """The fields that make results of two runs incomparable (stores key on these)."""
        return {"engine": self.name, "provider": self.provider, "device": self.device,
                "precision": self.precision}

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [self.provider, self.device, self.precision]
        if self.threads:
            parts.append(f"{self.threads} threads")
        parts += [f"{k} {v}" for k, v in self.settings]
        return f"{self.name} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@runtime_checkable
class Engine(Protocol):
    info: EngineInfo

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Model inputs (batch first) -> outputs (batch first), float32."""
        ...


class EngineBase:
    """Shorthands every engine shares: ``name``, ``precision`` and ``describe()`` from ``info``."""

    info: EngineInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def precision(self) -> str:
        return self.info.precision

    def describe(self) -> str:
        return self.info.describe()


def info_of(engine: object) -> EngineInfo:
    """``engine.info``; an engine written against the minimal interface (``name``, ``precision``,
    ``run``, optionally ``describe()``) gets one built from those."""
    info = getattr(engine, "info", None)
    if isinstance(info, EngineInfo):
        return info
    name = str(getattr(engine, "name", type(engine).__name__))
    describe = getattr(engine, "describe", None)
    return EngineInfo(name=name, provider=name, device="cpu",
                      precision=str(getattr(engine, "precision", "fp32")),
                      label=str(describe()) if callable(describe) else None)


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def is_asynchronous(engine: object) -> bool:
    """Whether ``engine`` computes while the host goes on (a CUDA device): callers then keep one
    call in flight with :func:`submit` instead of waiting on each."""
    return bool(getattr(engine, "asynchronous", False))


def submit(engine: object, *inputs: np.ndarray) -> Callable[[], np.ndarray]:
    """Start ``engine`` on ``inputs``; the returned call gives the outputs, waiting for them if
    they are not ready. An engine without a ``submit`` of its own runs now."""
    start = getattr(engine, "submit", None)
    if start is not None:
        return start(*inputs)
    outputs = engine.run(*inputs)  # type: ignore[attr-defined]
    return lambda: outputs
