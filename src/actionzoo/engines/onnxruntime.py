"""ONNX Runtime as an engine: the CPU provider by default, CUDA or TensorRT when installed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from actionzoo.engines.base import Engine, EngineInfo, default_threads
from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision

__all__ = ["OnnxRuntimeEngine"]

_GPU_PROVIDERS = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}


class OnnxRuntimeEngine(Engine):
    """An exported ``.onnx`` graph in an ONNX Runtime session (the graph's own precision, fp32)."""

    def __init__(
        self,
        model_file: str | Path,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
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
        try:
            self.session = ort.InferenceSession(str(model_file), options, providers=wanted)
        except Exception as error:  # a corrupt or foreign file: say which, in one line
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UsageError(f"{model_file}: ONNX Runtime cannot load this model ({reason})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        provider = self.session.get_providers()[0]
        self.info = EngineInfo(
            name="onnxruntime",
            provider=provider,
            device="cuda:0" if provider in _GPU_PROVIDERS else "cpu",
            precision=_graph_precision(self.session),
            threads=options.intra_op_num_threads if provider not in _GPU_PROVIDERS else None,
        )

    @property
    def output_width(self) -> int | None:
        """The class count the graph's first output declares (None for a symbolic last axis)."""
        shape = self.session.get_outputs()[0].shape
        return shape[-1] if shape and isinstance(shape[-1], int) and shape[-1] > 0 else None

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.input_names, inputs)}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def _graph_precision(session: object) -> Precision:
    """fp32 for the graphs actionzoo exports; a graph with float16 inputs reports fp16."""
    kinds = {i.type for i in session.get_inputs()}  # type: ignore[attr-defined]
    return Precision.FP16 if "tensor(float16)" in kinds else Precision.FP32
