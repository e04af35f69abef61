"""The engine table: every engine name, what it needs and how it is made, in one place.

A name given on the command line becomes an :class:`EngineKind` here, once; everything further in
asks the kind (``kind.needs_model``) instead of looking at the name. Engines are made only through
:func:`create_engine`, so the table's checks run for every engine. A new engine is one row:
:func:`register_engine` adds it, and ``--engine`` of every command accepts it from then on (the
parser reads the table when it is built).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from actionzoo.engines.base import Engine, require_engine
from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision

__all__ = ["EngineKind", "ENGINES", "engine_kind", "create_engine", "register_engine"]

_FP32 = (Precision.FP32,)
_TORCH = (Precision.FP32, Precision.BF16, Precision.FP16)


@dataclass(frozen=True)
class EngineKind:
    """One row of the table. ``make`` (a function, or the :class:`Engine` subclass itself) is
    called with keyword arguments ``model``, ``model_file``, ``threads``, ``precision`` (a
    :class:`Precision`), ``device``, ``channels_last`` and ``cuda_graphs`` (take ``**_`` for those
    it ignores) and returns an :class:`Engine`."""

    name: str
    needs_model: bool  # True: a torch model (from --checkpoint); False: an exported --model-file
    precisions: tuple[Precision, ...]
    description: str
    make: Callable[..., Engine]
    cpu_only: bool = False  # True: refuses --device cuda (the runtime has no other device here)

    def __post_init__(self) -> None:
        if not self.name or "," in self.name or self.name != self.name.strip():
            raise UsageError(f"engine name {self.name!r}: a non-empty name without commas or "
                             "surrounding spaces (--engine a,b lists several)")
        if not callable(self.make):
            raise UsageError(f"engine {self.name}: make must be callable, not "
                             f"{type(self.make).__name__}")
        if isinstance(self.make, type):  # the class itself: what it lacks is known now
            if not issubclass(self.make, Engine):
                raise UsageError(f"engine {self.name}: {self.make.__name__} is not an engine; "
                                 "subclass actionzoo.engines.Engine and give it `info` and `run`")
            if inspect.isabstract(self.make):
                missing = ", ".join(sorted(self.make.__abstractmethods__))
                raise UsageError(f"engine {self.name}: {self.make.__name__} does not implement "
                                 f"{missing} (an engine gives `info` and `run`)")
        precisions = tuple(Precision.of(p, f"engine {self.name}: precision") for p in self.precisions)
        if not precisions:
            raise UsageError(f"engine {self.name}: name at least one precision it runs")
        object.__setattr__(self, "precisions", precisions)


def _torch(compile: bool) -> Callable[..., Engine]:
    def make(*, model, threads, precision, device, channels_last=False, cuda_graphs=False, **_):
        from actionzoo.engines.pytorch import TorchEngine

        return TorchEngine(model, threads=threads, compile=compile, device=device, precision=precision,
                           channels_last=channels_last, cuda_graphs=cuda_graphs)

    return make


def _onnxruntime(providers: list[str]) -> Callable[..., Engine]:
    def make(*, model_file, threads, **_):
        from actionzoo.engines.onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine(model_file, threads=threads, providers=providers)

    return make


def _openvino(*, model_file, threads, precision, **_):
    from actionzoo.engines.openvino import OpenVinoEngine

    return OpenVinoEngine(model_file, threads=threads, precision=precision)


_KINDS = [
    EngineKind("pytorch", True, _TORCH, "PyTorch eager (cpu or cuda)", _torch(compile=False)),
    EngineKind("pytorch-compile", True, _TORCH, "torch.compile (cpu or cuda)", _torch(compile=True)),
    EngineKind("onnxruntime", False, _FP32, "ONNX Runtime, CPU provider",
               _onnxruntime(["CPUExecutionProvider"]), cpu_only=True),
    EngineKind("onnxruntime-cuda", False, _FP32, "ONNX Runtime, CUDA provider",
               _onnxruntime(["CUDAExecutionProvider", "CPUExecutionProvider"])),
    EngineKind("onnxruntime-tensorrt", False, _FP32, "ONNX Runtime, TensorRT provider",
               _onnxruntime(["TensorrtExecutionProvider", "CUDAExecutionProvider",
                             "CPUExecutionProvider"])),
    EngineKind("openvino", False, (*_TORCH, Precision.INT8),
               "OpenVINO CPU plugin (.onnx or .xml; int8 from a quantized .xml)", _openvino,
               cpu_only=True),
]
ENGINES: dict[str, EngineKind] = {kind.name: kind for kind in _KINDS}


def register_engine(kind: EngineKind, *, replace: bool = False) -> EngineKind:
    """Add ``kind`` to the table: :func:`create_engine`, ``actionzoo eval --engine NAME``,
    ``bench`` and every other command that takes ``--engine`` accept it from now on.
    ``replace``: allow a row of that name to be replaced (otherwise a clash is refused)."""
    if not isinstance(kind, EngineKind):
        raise UsageError(f"register_engine takes an EngineKind, not {type(kind).__name__}")
    if kind.name in ENGINES and not replace:
        raise UsageError(f"engine {kind.name!r} is already in the table; pass replace=True to "
                         "replace it")
    ENGINES[kind.name] = kind
    return kind


def engine_kind(name: str | EngineKind) -> EngineKind:
    if isinstance(name, EngineKind):
        return name
    try:
        return ENGINES[name]
    except KeyError:
        raise UsageError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}") from None


def create_engine(
    name: str | EngineKind,
    *,
    model: torch.nn.Module | None = None,
    model_file: str | Path | None = None,
    threads: int | None = None,
    precision: Precision | str = Precision.FP32,
    device: str = "cpu",
    channels_last: bool = False,
    cuda_graphs: bool = False,
) -> Engine:
    """An engine by name. PyTorch engines need ``model``; the others an exported ``model_file``.
    ``channels_last`` and ``cuda_graphs`` are PyTorch settings."""
    kind = engine_kind(name)
    precision = Precision.of(precision)
    if (channels_last or cuda_graphs) and not kind.needs_model:
        raise UsageError(f"--channels-last and --cuda-graphs are pytorch engine settings, not {kind.name}'s")
    if precision not in kind.precisions:
        raise UsageError(
            f"engine {kind.name} runs {', '.join(kind.precisions)}, not {precision.value!r}"
        )
    if kind.needs_model:
        if model is None:
            raise UsageError(
                f"engine {kind.name} needs a model (give a checkpoint or none for random weights)")
    else:
        if device != "cpu" and kind.cpu_only:
            raise UsageError(f"engine {kind.name} runs on the cpu; for {device} use pytorch "
                             "or onnxruntime-cuda")
        if model_file is None:
            raise UsageError(f"engine {kind.name} needs an exported model file (--model-file model.onnx)")
        if not Path(model_file).is_file():
            raise UsageError(f"{model_file}: no such model file")
    wants_int8 = precision is Precision.INT8
    if wants_int8:
        precision = Precision.FP32  # the int8 layers come from the file; the rest computes in f32
    engine = kind.make(model=model, model_file=model_file, threads=threads, precision=precision,
                       device=device, channels_last=channels_last, cuda_graphs=cuda_graphs)
    require_engine(engine, f"engine {kind.name}")  # a new row's make() is checked here
    if wants_int8 and engine.info.precision is not Precision.INT8:
        raise UsageError(f"{model_file}: not an INT8 model (no quantized layers); make one with "
                         "`actionzoo export MODEL --precision int8 --calibration ANN ...`")
    return engine
