"""``actionzoo export --precision int8`` as one call: quantize a recognizer on views of the user's
videos (:func:`~actionzoo.precision.int8.quantize_int8`), then measure the INT8 file's drift vs
the fp32 graph it came from on videos it was not calibrated on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.precision.drift import DriftReport
from actionzoo.precision.int8 import Int8Export
from actionzoo.runtime.precisions import Precision

__all__ = ["Int8Options", "Int8ExportResult", "export_int8"]

PathLike = str | Path
DRIFT_BATCH = 8  # views per engine call while measuring the drift


@dataclass(frozen=True)
class Int8Options:
    """``calibration_size``: preprocessed views to calibrate on, spread over the videos;
    ``drift_ann``: held-out videos to measure the drift on (default: the calibration annotation's
    videos after those calibrated on); ``drift_videos``: how many (0 skips the measurement)."""

    protocol: object = "official"  # a name or a Protocol
    calibration_size: int = 100
    drift_ann: PathLike | None = None
    drift_videos: int = 32
    ann_format: str = "auto"
    labels: PathLike | None = None
    workers: int = 2
    threads: int | None = None
    speed_rounds: int = 3  # profiled inferences of each graph for the speed note (0: none)


@dataclass
class Int8ExportResult:
    model: str
    calibration: str  # the calibration annotation, as given
    export: Int8Export
    drift: DriftReport | None  # None: not measured (drift_videos 0)
    speed: list[str] = field(default_factory=list)  # the measured speed-up, and why when small

    def skipped_lines(self) -> list[str]:
        """One line per video that could not be calibrated on."""
        return [f"skipped for calibration: {why if video in why else f'{video}: {why}'}"
                for video, why in self.export.skipped_videos]

    def summary(self) -> str:
        e = self.export
        return (f"quantized {self.model} to INT8 on {e.calibration_views} views of "
                f"{e.calibration_videos} videos of {self.calibration}: {e.model_file} "
                f"(fp32 graph: {e.fp32_file})")

    def drift_text(self) -> str:
        if self.drift is None:
            return "drift of int8 vs fp32: not measured (--drift-videos 0)"
        return self.drift.render()

    def to_dict(self) -> dict[str, object]:
        e = self.export
        return {"model_file": str(e.model_file), "fp32_file": str(e.fp32_file),
                "calibration_views": e.calibration_views,
                "calibration_videos": e.calibration_videos,
                "drift": self.drift.to_dict() if self.drift is not None else None,
                "speed": list(self.speed)}


def export_int8(
    model,
    output: PathLike,
    calibration: PathLike,
    data_root: PathLike,
    *,
    checkpoint: PathLike | None = None,
    trusted: bool = False,
    options: Int8Options | None = None,
) -> Int8ExportResult:
    """Quantize ``model`` (a name or spec; random weights without ``checkpoint``) to an INT8
    OpenVINO IR at ``output`` (``.xml``, the fp32 graph beside it) on the videos of the annotation
    file ``calibration``, and measure its drift vs that fp32 graph."""
    from actionzoo.data.annotations import read_annotations
    from actionzoo.engines.registry import create_engine
    from actionzoo.precision.int8 import quantize_int8
    from actionzoo.precision.measure import drift_on_videos
    from actionzoo.zoo.registry import build_model, get_model_spec

    options = options or Int8Options()
    spec = get_model_spec(model)
    protocol = spec.protocol(options.protocol)
    calibration_set = read_annotations(calibration, data_root, format=options.ann_format,
                                       labels=options.labels)
    net = build_model(spec, checkpoint, trusted=trusted)
    exported = quantize_int8(spec, output, calibration_set.records, net=net, protocol=protocol,
                             calibration_size=options.calibration_size,
                             calibration_name=str(calibration), workers=options.workers,
                             weights=str(checkpoint or "random"))
    held_out, inputs = _held_out(calibration, calibration_set.records, data_root, options)
    drift = None
    if held_out:
        reference = create_engine("openvino", model_file=exported.fp32_file, threads=options.threads)
        candidate = create_engine("openvino", model_file=exported.model_file,
                                  threads=options.threads, precision=Precision.INT8)
        drift = drift_on_videos(held_out, protocol, reference=reference, candidate=candidate,
                                batch_size=DRIFT_BATCH, workers=options.workers, inputs=inputs)
    return Int8ExportResult(spec.name, str(calibration), exported, drift,
                            _speed(exported, protocol, options))


def _speed(exported: Int8Export, protocol, options: Int8Options) -> list[str]:
    """INT8 against fp32 on one batch of this protocol's views, profiled per layer, so that a
    model INT8 does not pay for (X3D's depthwise convolutions) says so with its own figures."""
    if options.speed_rounds <= 0:
        return []
    from actionzoo.data.examples import example_inputs
    from actionzoo.precision.layer_profile import profile_layers, speed_note

    inputs = example_inputs(protocol, 1)
    fp32 = profile_layers(exported.fp32_file, inputs, threads=options.threads, rounds=options.speed_rounds)
    int8 = profile_layers(exported.model_file, inputs, threads=options.threads, rounds=options.speed_rounds)
    return speed_note(fp32, int8)


def _held_out(calibration: PathLike, records: list, data_root: PathLike,
              options: Int8Options) -> tuple[list, str]:
    """(the videos to measure the drift on, how to name them): ``drift_ann``'s, else those after
    the ones calibrated on, else (none left) the calibration videos themselves."""
    from actionzoo.data.annotations import read_annotations

    if options.drift_ann:
        held_out = read_annotations(options.drift_ann, data_root, format=options.ann_format,
                                    labels=options.labels).records
        inputs = f"videos of {options.drift_ann}"
    else:
        used = min(len(records), options.calibration_size)
        held_out = records[used:]
        inputs = f"held-out videos of {calibration} (not calibrated on)"
        if not held_out:
            held_out = records
            inputs = f"videos of {calibration} (the calibration videos: none was held out)"
    return held_out[: options.drift_videos], inputs
