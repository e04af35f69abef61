"""OpenVINO as an engine: an ``.onnx`` graph or an OpenVINO IR (``.xml``) on the CPU plugin.

The plugin picks bf16 on CPUs with AMX unless told otherwise; here it runs f32 unless a reduced
precision is asked for, and the precision it reports is the one read back from the compiled model
(``int8`` when the model holds quantize/dequantize nodes from post-training quantization).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actionzoo.engines.base import Engine, EngineInfo, Fp32Counterpart, default_threads
from actionzoo.engines.signal_stack import permanent_signal_stack
from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision

__all__ = ["OpenVinoEngine", "OPENVINO_PRECISIONS", "RT_INFO", "METADATA_KEYS", "read_metadata",
           "write_metadata"]

#: The precisions the plugin can be asked to compute in (each knows its INFERENCE_PRECISION_HINT);
#: int8 is not asked for: it comes from the quantized layers of the file.
OPENVINO_PRECISIONS = (Precision.FP32, Precision.BF16, Precision.FP16)


class OpenVinoEngine(Engine):
    """An ``.onnx`` or ``.xml`` model compiled for OpenVINO's CPU plugin."""

    def __init__(
        self,
        model_file: str | Path,
        *,
        threads: int | None = None,
        precision: Precision | str = Precision.FP32,
        hint: str = "LATENCY",
    ) -> None:
        import openvino as ov

        precision = Precision.of(precision, "OpenVINO precision")
        if precision not in OPENVINO_PRECISIONS:
            raise UsageError(
                f"OpenVINO precision {precision.value!r} unknown; choose from "
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
                    "INFERENCE_PRECISION_HINT": precision.openvino_hint,
                })
        except RuntimeError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(error).__name__
            raise UsageError(f"{model_file}: OpenVINO cannot load this model ({reason})") from None
        hint_value = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = hint_value.get_type_name() if hasattr(hint_value, "get_type_name") else str(hint_value)
        computed = Precision.from_openvino_hint(actual)
        if computed is None:
            raise RuntimeError(f"OpenVINO runs {actual}, a precision actionzoo does not know")
        if precision is Precision.FP32 and computed is not Precision.FP32:
            raise RuntimeError(f"OpenVINO ignored the f32 precision hint (runs {actual})")
        quantized = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        self.metadata = read_metadata(model)
        self.request = self.compiled.create_infer_request()
        self.info = EngineInfo(
            name="openvino",
            provider="CPU plugin",
            device="cpu",
            precision=Precision.INT8 if quantized else computed,
            threads=threads,
            settings=(("hint", hint.lower()),),
        )

    @property
    def fp32_reference_file(self) -> Path | None:
        """The fp32 graph an INT8 IR written by ``actionzoo export --precision int8`` came from."""
        name = Path(self.metadata.get("fp32_reference", "")).name  # beside the IR, nowhere else
        return self.model_file.parent / name if name else None

    @property
    def output_width(self) -> int | None:
        """The class count the model's first output declares (None for a dynamic last axis)."""
        shape = self.compiled.output(0).get_partial_shape()
        last = shape[len(shape) - 1] if len(shape) else None
        return last.get_length() if last is not None and last.is_static else None

    def fp32_counterpart(self, build_model=None) -> Fp32Counterpart:
        """The same file at f32; for an INT8 IR the fp32 graph it was quantized from (named in
        the IR, beside it), else the user's torch model (``build_model()``, built only now)."""
        if self.info.precision is not Precision.INT8:
            return Fp32Counterpart(f"{self.model_file} compiled for f32", "openvino",
                                   model_file=self.model_file)
        sibling = self.fp32_reference_file
        if sibling is not None and sibling.is_file():
            return Fp32Counterpart(f"{sibling.name}, the fp32 graph it was quantized from",
                                   "openvino", model_file=sibling)
        if build_model is not None:
            return Fp32Counterpart("the PyTorch model of --checkpoint", "pytorch",
                                   model=build_model())
        missing = f" ({sibling} is missing)" if sibling is not None else ""
        return Fp32Counterpart(f"{self.model_file} is INT8 and its fp32 graph is unknown{missing}; "
                               "give --reference FP32.onnx or --checkpoint to measure its drift")

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
