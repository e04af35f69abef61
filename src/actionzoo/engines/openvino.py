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

__all__ = ["OpenVinoEngine", "OPENVINO_PRECISIONS", "RT_INFO", "METADATA_KEYS", "read_metadata",
           "write_metadata"]

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


# What actionzoo writes into an IR's ``rt_info`` (``export --precision int8``) and reads back when
# it loads the file: kept here, beside the engine that reads it, so that the engine never imports
# the exporter.

#: rt_info section of the IR that holds what actionzoo knows about the file.
RT_INFO = "actionzoo"
#: The keys of that section.
METADATA_KEYS = ("model", "protocol", "weights", "fp32_reference", "calibration",
                 "calibration_views", "calibration_videos")


def write_metadata(model: object, values: dict[str, str]) -> None:
    """Store ``values`` (keys from :data:`METADATA_KEYS`) in ``model``'s ``actionzoo`` rt_info."""
    unknown = set(values) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(f"unknown IR metadata keys {sorted(unknown)}; known: {METADATA_KEYS}")
    for key, value in values.items():
        model.set_rt_info(value, [RT_INFO, key])  # type: ignore[attr-defined]


def read_metadata(model: object) -> dict[str, str]:
    """The ``actionzoo`` rt_info of an OpenVINO model (empty for a file we did not write)."""
    info: dict[str, str] = {}
    for key in METADATA_KEYS:
        if model.has_rt_info([RT_INFO, key]):  # type: ignore[attr-defined]
            info[key] = model.get_rt_info([RT_INFO, key]).astype(str)  # type: ignore[attr-defined]
    return info
