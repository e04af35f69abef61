"""OpenVINO as an engine: an ``.onnx`` graph or an OpenVINO IR (``.xml``) on the CPU plugin.

The plugin picks bf16 on CPUs with AMX unless told otherwise; here it runs f32 unless a reduced
precision is asked for, and the precision it reports is the one read back from the compiled model
(``int8`` when the model holds quantize/dequantize nodes from post-training quantization).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actionzoo.engines.base import EngineBase, EngineInfo, default_threads
from actionzoo.engines.signal_stack import permanent_signal_stack
from actionzoo.errors import UsageError
from actionzoo.precision.int8 import read_metadata

__all__ = ["OpenVinoEngine", "OPENVINO_PRECISIONS"]

#: Our precision names -> the plugin's INFERENCE_PRECISION_HINT values.
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class OpenVinoEngine(EngineBase):
    """An ``.onnx`` or ``.xml`` model compiled for OpenVINO's CPU plugin."""

    def __init__(
        self,
        model_file: str | Path,
        *,
        threads: int | None = None,
        precision: str = "fp32",
        hint: str = "LATENCY",
    ) -> None:
        import openvino as ov

        if precision not in OPENVINO_PRECISIONS:
            raise UsageError(
                f"OpenVINO precision {precision!r} unknown; choose from "
                f"{', '.join(OPENVINO_PRECISIONS)} (int8 comes from a quantized model file: "
                "actionzoo export --precision int8)"
            )
        core = ov.Core()
        self.model_file = Path(model_file)
        threads = threads or default_threads()
        try:
            model = core.read_model(str(model_file))
            with permanent_signal_stack():  # see engines.signal_stack: OpenVINO's own is unsafe
                self.compiled = core.compile_model(model, "CPU", {
                    "PERFORMANCE_HINT": hint,
                    "INFERENCE_NUM_THREADS": threads,
                    "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
                })
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(error).__name__
            raise UsageError(f"{model_file}: OpenVINO cannot load this model ({reason})") from None
        hint_value = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = hint_value.get_type_name() if hasattr(hint_value, "get_type_name") else str(hint_value)
        computed = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(actual, actual)
        if precision == "fp32" and computed != "fp32":
            raise RuntimeError(f"OpenVINO ignored the f32 precision hint (runs {actual})")
        quantized = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        self.metadata = read_metadata(model)
        self.request = self.compiled.create_infer_request()
        self.info = EngineInfo(
            name="openvino",
            provider="CPU plugin",
            device="cpu",
            precision="int8" if quantized else computed,
            threads=threads,
            settings=(("hint", hint.lower()),),
        )

    @property
    def fp32_reference_file(self) -> Path | None:
        """The fp32 graph an INT8 IR written by ``actionzoo export --precision int8`` came from."""
        name = Path(self.metadata.get("fp32_reference", "")).name  # beside the IR, nowhere else
        return self.model_file.parent / name if name else None

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        result = self.request.infer(arrays)
        return np.asarray(result[self.compiled.output(0)], dtype=np.float32)
