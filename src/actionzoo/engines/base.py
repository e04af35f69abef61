"""What every engine is: :class:`Engine` runs model inputs, :class:`EngineInfo` says how.

An engine takes a batch of model inputs as numpy float32 arrays (batch first) and returns the
model's output as a float32 array. Its :class:`EngineInfo` names the engine, the execution
provider, the device and the precision it really computes in, read back from the runtime where the
runtime can change it. Results stores and benchmark rows key on all four, so a CUDA run never
resumes a CPU run's results and a bf16 figure never stands beside an fp32 one unlabelled.

:class:`Engine` is the whole contract. An engine must give ``info`` and ``run``; everything else
an engine may do is declared here with the default most engines want, and callers ask the engine
(``engine.asynchronous``, ``engine.accepts_uint8``, ``engine.output_width``,
``engine.fp32_counterpart()``) instead of probing it for attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision
from actionzoo.runtime.tuning import available_cores

if TYPE_CHECKING:
    import torch

__all__ = ["EngineInfo", "Engine", "EngineBase", "Fp32Counterpart", "default_threads", "require_engine"]


@dataclass(frozen=True)
class EngineInfo:
    name: str  # the engine table's name: "pytorch", "onnxruntime", "openvino", ...
    provider: str  # what executes: "eager", "torch.compile", "CPUExecutionProvider", "CPU plugin"
    device: str  # "cpu", "cuda:0"
    precision: Precision  # what the runtime really computes in (text is turned into one)
    threads: int | None = None
    settings: tuple[tuple[str, str], ...] = field(default=())  # other choices that change speed
    label: str | None = None  # the engine's own description, when it gives one

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", Precision.of(self.precision, "engine precision"))

    def key(self) -> dict[str, str]:
        """The fields that make results of two runs incomparable (stores key on these)."""
        return {"engine": self.name, "provider": self.provider, "device": self.device,
                "precision": self.precision.value}

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [self.provider, self.device, self.precision.value]
        if self.threads:
            parts.append(f"{self.threads} threads")
        parts += [f"{k} {v}" for k, v in self.settings]
        return f"{self.name} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "precision": self.precision.value}


@dataclass(frozen=True)
class Fp32Counterpart:
    """The fp32 engine a reduced-precision engine's drift is measured against, as a row of the
    engine table and what to make it from; ``engine`` None when there is none, ``how`` then says
    why (and what the user can give instead)."""

    how: str
    engine: str | None = None
    model: torch.nn.Module | None = None  # for a row of the table that needs a model
    model_file: Path | None = None
    device: str = "cpu"


class Engine(ABC):
    """Model inputs (batch first) -> outputs (batch first), float32.

    Required: ``info`` (set in ``__init__``) and :meth:`run`. Declared with defaults, override
    where the engine does more:

    - ``asynchronous`` / :meth:`submit`: an engine that computes while the host goes on (a CUDA
      device) says so, and :meth:`submit` returns before its outputs exist; callers then keep one
      call in flight. The default runs now.
    - ``accepts_uint8`` / :meth:`normalize_uint8` / ``takes_uint8``: an engine that can normalise
      uint8 views on its device (a smaller upload) says so; after :meth:`normalize_uint8` it
      ``takes_uint8``.
    - ``output_width``: the class (or output) count the model declares, None when unknown.
    - :meth:`fp32_counterpart`: which fp32 engine its reduced-precision drift is measured against.
    """

    info: EngineInfo
    asynchronous: bool = False
    accepts_uint8: ClassVar[bool] = False

    @abstractmethod
    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Model inputs (batch first) -> outputs (batch first), float32."""

    def submit(self, *inputs: np.ndarray) -> Callable[[], np.ndarray]:
        """Start a call on ``inputs``; the returned call gives the outputs, waiting for them if
        they are not ready. By default the engine runs now."""
        outputs = self.run(*inputs)
        return lambda: outputs

    @property
    def takes_uint8(self) -> bool:
        """Whether :meth:`run` takes uint8 views now (after :meth:`normalize_uint8`)."""
        return False

    def normalize_uint8(self, table: np.ndarray) -> None:
        """Take uint8 ``(N, 3, T, H, W)`` views from now on and normalise them with ``table``
        (``(256, 3)``, the float value of every uint8 value per channel)."""
        raise UsageError(f"engine {self.info.name} takes float32 views only (no uint8 upload)")

    @property
    def output_width(self) -> int | None:
        """The size of the output's last axis the model declares (its classes); None if unknown."""
        return None

    def fp32_counterpart(
        self, build_model: Callable[[], torch.nn.Module] | None = None
    ) -> Fp32Counterpart:
        """The fp32 engine to measure this engine's drift against. ``build_model``: builds the
        torch model of the user's checkpoint, for an engine that can fall back to it (called only
        then: building costs seconds)."""
        return Fp32Counterpart(f"{self.info.describe()} has no fp32 counterpart here; give "
                               "--reference FP32.onnx")

    # Shorthands every engine shares.
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def precision(self) -> Precision:
        return self.info.precision

    def describe(self) -> str:
        return self.info.describe()


EngineBase = Engine  # the name engines subclassed before the contract was one class


def require_engine(engine: object, what: str = "engine") -> Engine:
    """``engine`` if it keeps the contract; a one-line :class:`UsageError` saying what is missing
    otherwise (an API caller's own engine class, a table row whose ``make`` returns something
    else)."""
    if not isinstance(engine, Engine):
        raise UsageError(f"{what}: {type(engine).__name__} is not an engine; subclass "
                         "actionzoo.engines.Engine and give it `info` and `run`")
    if not isinstance(getattr(engine, "info", None), EngineInfo):
        raise UsageError(f"{what}: {type(engine).__name__} has no `info` (an EngineInfo saying "
                         "its name, provider, device and precision); set it in __init__")
    return engine


def default_threads() -> int:
    return available_cores()
