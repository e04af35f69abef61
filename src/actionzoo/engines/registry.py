"""The engine table: every engine name, what it needs and how it is made, in one place.

A name given on the command line becomes an :class:`EngineKind` here, once; everything further in
asks the kind (``kind.needs_model``) instead of looking at the name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from actionzoo.engines.base import Engine
from actionzoo.errors import UsageError

__all__ = ["EngineKind", "ENGINES", "engine_kind", "create_engine"]


@dataclass(frozen=True)
class EngineKind:
    name: str
    needs_model: bool  # True: a torch model (from --checkpoint); False: an exported --model-file
    precisions: tuple[str, ...]
    description: str
    make: Callable[..., Engine]


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
    EngineKind("pytorch", True, ("fp32", "bf16", "fp16"), "PyTorch eager (cpu or cuda)",
               _torch(compile=False)),
    EngineKind("pytorch-compile", True, ("fp32", "bf16", "fp16"), "torch.compile (cpu or cuda)",
               _torch(compile=True)),
    EngineKind("onnxruntime", False, ("fp32",), "ONNX Runtime, CPU provider",
               _onnxruntime(["CPUExecutionProvider"])),
    EngineKind("onnxruntime-cuda", False, ("fp32",), "ONNX Runtime, CUDA provider",
               _onnxruntime(["CUDAExecutionProvider", "CPUExecutionProvider"])),
    EngineKind("onnxruntime-tensorrt", False, ("fp32",), "ONNX Runtime, TensorRT provider",
               _onnxruntime(["TensorrtExecutionProvider", "CUDAExecutionProvider",
                             "CPUExecutionProvider"])),
    EngineKind("openvino", False, ("fp32", "bf16", "fp16", "int8"),
               "OpenVINO CPU plugin (.onnx or .xml; int8 from a quantized .xml)", _openvino),
]
ENGINES: dict[str, EngineKind] = {kind.name: kind for kind in _KINDS}


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
    precision: str = "fp32",
    device: str = "cpu",
    channels_last: bool = False,
    cuda_graphs: bool = False,
) -> Engine:
    """An engine by name. PyTorch engines need ``model``; the others an exported ``model_file``.
    ``channels_last`` and ``cuda_graphs`` are PyTorch settings."""
    kind = engine_kind(name)
    if (channels_last or cuda_graphs) and not kind.needs_model:
        raise UsageError(f"--channels-last and --cuda-graphs are pytorch engine settings, not {kind.name}'s")
    if precision not in kind.precisions:
        raise UsageError(
            f"engine {kind.name} runs {', '.join(kind.precisions)}, not {precision!r}"
        )
    if kind.needs_model:
        if model is None:
            raise UsageError(
                f"engine {kind.name} needs a model (give a checkpoint or none for random weights)")
    else:
        if device != "cpu" and kind.name in ("onnxruntime", "openvino"):
            raise UsageError(f"engine {kind.name} runs on the cpu; for {device} use pytorch "
                             "or onnxruntime-cuda")
        if model_file is None:
            raise UsageError(f"engine {kind.name} needs an exported model file (--model-file model.onnx)")
        if not Path(model_file).is_file():
            raise UsageError(f"{model_file}: no such model file")
    wants_int8 = precision == "int8"
    if wants_int8:
        precision = "fp32"  # the int8 layers come from the file; the rest computes in f32
    engine = kind.make(model=model, model_file=model_file, threads=threads, precision=precision,
                       device=device, channels_last=channels_last, cuda_graphs=cuda_graphs)
    if wants_int8 and engine.info.precision != "int8":
        raise UsageError(f"{model_file}: not an INT8 model (no quantized layers); make one with "
                         "`actionzoo export MODEL --precision int8 --calibration ANN ...`")
    return engine
