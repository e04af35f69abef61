"""Inference engines behind one interface.

An engine takes a batch of model inputs as numpy float32 arrays and returns the model's outputs as a
numpy float32 array. Every engine states its name and the numeric precision it really computes in,
read back from the runtime where the runtime can change it (OpenVINO picks bf16 on AMX CPUs unless
told otherwise; here it runs f32 unless reduced precision is asked for, and reports what it got).

A native TensorRT engine fits the same shape: construct from an engine file, ``run`` copies the
inputs to the device, executes, and copies the output back; ``precision`` reports fp16.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from actionzoo.errors import UsageError

__all__ = [
    "Engine",
    "TorchEngine",
    "OnnxRuntimeEngine",
    "OpenVinoEngine",
    "ENGINE_NAMES",
    "create_engine",
]


class Engine(Protocol):
    name: str
    precision: str

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Model inputs (batch first) -> outputs (batch first), float32."""
        ...

    def describe(self) -> str:
        ...


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


@dataclass
class TorchEngine:
    """PyTorch eager (optionally ``torch.compile``) on the CPU in float32."""

    model: torch.nn.Module
    threads: int | None = None
    compile: bool = False
    name: str = "pytorch"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.model = self.model.eval()
        if self.threads:
            torch.set_num_threads(self.threads)
        self._forward = torch.compile(self.model) if self.compile else self.model
        if self.compile:
            self.name = "pytorch-compile"
        self._pad_single = any(isinstance(m, torch.nn.Conv3d) for m in self.model.modules())

    @torch.inference_mode()
    def run(self, *inputs: np.ndarray) -> np.ndarray:
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs]
        batch = tensors[0].shape[0]
        # Eager Conv3d falls back to a slow unbatched kernel at batch 1; a duplicate row keeps the
        # fast path and, since rows are independent in eval mode, changes no value. (Models with
        # 2D convolutions only, like TSM, would just do twice the work.)
        if batch == 1 and len(tensors) == 1 and self._pad_single:
            out = self._forward(tensors[0].expand(2, *tensors[0].shape[1:]).contiguous())[:1]
        else:
            out = self._forward(*tensors)
        return out.float().numpy()

    def describe(self) -> str:
        return f"{self.name} ({self.precision}, {torch.get_num_threads()} threads)"


class OnnxRuntimeEngine:
    """ONNX Runtime; CPU by default, CUDA / TensorRT execution providers when installed."""

    def __init__(
        self,
        model_file: str | Path,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        # Spinning threads steal the cores that decode workers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        wanted = list(providers) if providers else ["CPUExecutionProvider"]
        missing = [p for p in wanted if p not in available]
        if missing:
            raise UsageError(
                f"ONNX Runtime provider(s) {', '.join(missing)} not available here "
                f"(available: {', '.join(available)})"
            )
        self.model_file = Path(model_file)
        self.session = ort.InferenceSession(str(model_file), options, providers=wanted)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.providers = self.session.get_providers()
        self.threads = options.intra_op_num_threads
        self.name = "onnxruntime"
        self.precision = "fp32"

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.input_names, inputs)}
        return self.session.run(None, feed)[0]

    def describe(self) -> str:
        provider = self.providers[0].removesuffix("ExecutionProvider")
        return f"{self.name} ({provider}, {self.precision}, {self.threads} threads)"


class OpenVinoEngine:
    """OpenVINO on the CPU, f32 unless a reduced precision is asked for explicitly."""

    PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}

    def __init__(
        self,
        model_file: str | Path,
        *,
        threads: int | None = None,
        precision: str = "fp32",
        hint: str = "LATENCY",
    ) -> None:
        import openvino as ov

        if precision not in self.PRECISIONS:
            raise UsageError(
                f"OpenVINO precision {precision!r} unknown; choose from {', '.join(self.PRECISIONS)}"
            )
        core = ov.Core()
        self.model_file = Path(model_file)
        self.threads = threads or _default_threads()
        self.compiled = core.compile_model(
            str(model_file),
            "CPU",
            {
                "PERFORMANCE_HINT": hint,
                "INFERENCE_NUM_THREADS": self.threads,
                "INFERENCE_PRECISION_HINT": self.PRECISIONS[precision],
            },
        )
        hint_value = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = hint_value.get_type_name() if hasattr(hint_value, "get_type_name") else str(hint_value)
        # Report what the plugin will really compute in, whatever was asked.
        self.precision = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(actual, actual)
        if precision == "fp32" and self.precision != "fp32":
            raise RuntimeError(f"OpenVINO ignored the f32 precision hint (runs {actual})")
        self.request = self.compiled.create_infer_request()
        self.name = "openvino"

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        result = self.request.infer(arrays)
        return np.asarray(result[self.compiled.output(0)], dtype=np.float32)

    def describe(self) -> str:
        return f"{self.name} (CPU, {self.precision}, {self.threads} threads)"


ENGINE_NAMES = ("pytorch", "pytorch-compile", "onnxruntime", "onnxruntime-cuda",
                "onnxruntime-tensorrt", "openvino")


def create_engine(
    name: str,
    *,
    model: torch.nn.Module | None = None,
    model_file: str | Path | None = None,
    threads: int | None = None,
    precision: str = "fp32",
) -> Engine:
    """An engine by name. PyTorch engines need ``model``; the others an ONNX ``model_file``."""
    if name not in ENGINE_NAMES:
        raise UsageError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")
    if name in ("pytorch", "pytorch-compile"):
        if model is None:
            raise UsageError(f"engine {name} needs a model (give a checkpoint or none for random weights)")
        if precision != "fp32":
            raise UsageError(f"engine {name} runs fp32 only")
        return TorchEngine(model, threads=threads, compile=name == "pytorch-compile")
    if model_file is None:
        raise UsageError(f"engine {name} needs an exported model file (--model-file model.onnx)")
    if not Path(model_file).is_file():
        raise UsageError(f"{model_file}: no such model file")
    if name.startswith("onnxruntime"):
        if precision != "fp32":
            raise UsageError("ONNX Runtime runs the exported fp32 graph; use openvino for bf16/fp16")
        providers = {
            "onnxruntime": ["CPUExecutionProvider"],
            "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            "onnxruntime-tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                     "CPUExecutionProvider"],
        }[name]
        return OnnxRuntimeEngine(model_file, threads=threads, providers=providers)
    return OpenVinoEngine(model_file, threads=threads, precision=precision)
