"""INT8 for the CPU: NNCF post-training quantization of the exported graph, saved as OpenVINO IR.

The fp32 graph is exported as for ``--target openvino`` (so TSM keeps its 5D shift), read by
OpenVINO, and quantized by ``nncf.quantize`` (NNCF, openvinotoolkit/nncf, ``nncf/quantization``)
with statistics from ``calibration_size`` preprocessed views of the user's own videos, spread over
as many videos as there are views to take. The IR carries, in its ``rt_info`` under ``actionzoo``,
the registry model, protocol, calibration set and the name of the fp32 graph written beside it, so
that ``eval``/``bench``/``predict`` can measure the drift of the file against fp32 later without
being told where fp32 is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actionzoo.data.annotations import VideoRecord
from actionzoo.engines.openvino import write_metadata
from actionzoo.engines.signal_stack import permanent_signal_stack
from actionzoo.engines.video_scores import view_items
from actionzoo.errors import UsageError
from actionzoo.zoo.protocols import Protocol
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["Int8Export", "quantize_int8", "calibration_views", "fp32_sibling"]


@dataclass(frozen=True)
class Int8Export:
    model_file: Path  # the INT8 IR (.xml, weights in the .bin beside it)
    fp32_file: Path  # the fp32 graph it was quantized from
    calibration_views: int
    calibration_videos: int
    skipped_videos: tuple[tuple[str, str], ...]  # (video, why) that could not be read


def fp32_sibling(model_file: str | Path) -> Path:
    """Where the fp32 graph of an INT8 IR goes: ``model.xml`` -> ``model.fp32.onnx``."""
    path = Path(model_file)
    return path.with_name(path.stem + ".fp32.onnx")


def _spread(count: int, take: int) -> list[int]:
    """``take`` indices of ``range(count)`` spread evenly (all of them when take >= count)."""
    if take >= count:
        return list(range(count))
    return [int(i) for i in np.linspace(0, count - 1, take).round()]


def calibration_views(
    records: Sequence[VideoRecord],
    protocol: Protocol,
    size: int,
    *,
    workers: int = 2,
    skipped: list[tuple[str, str]] | None = None,
) -> Iterator[np.ndarray]:
    """Up to ``size`` model-input views ``(1, C, T, H, W)`` from ``records``, the test protocol's
    own views, a few from each of the first ``min(len(records), size)`` videos. Videos that
    cannot be read are skipped and listed in ``skipped``."""
    videos = list(enumerate(records[: min(len(records), size)]))
    per_video = math.ceil(size / max(len(videos), 1))
    taken = 0
    for item in view_items(videos, protocol, workers):
        if item.rows is None:
            if skipped is not None:
                skipped.append((str(records[item.position].path), item.error or "unreadable"))
            continue
        for v in _spread(len(item.rows), min(per_video, size - taken)):
            yield np.asarray(item.rows[v], dtype=np.float32)[None]
            taken += 1
        if taken >= size:
            return


def quantize_int8(
    spec: ModelSpec,
    output: str | Path,
    calibration: Sequence[VideoRecord],
    *,
    net: torch.nn.Module,
    protocol: str | Protocol = "official",
    calibration_size: int = 100,
    calibration_name: str = "",
    workers: int = 2,
    weights: str = "",
) -> Int8Export:
    """Export ``net`` (a ``spec`` recognizer), quantize it to INT8 on views of ``calibration``,
    and save the IR at ``output`` with the fp32 graph beside it (:func:`fp32_sibling`)."""
    import nncf
    import openvino as ov

    from actionzoo.export.onnx import export_model

    if spec.task is not Task.RECOGNITION:
        raise UsageError(f"{spec.name}: INT8 export covers the recognizers (the detector's RoIAlign "
                         "has no quantized form here)")
    output = Path(output)
    if output.suffix != ".xml":
        raise UsageError(f"{output}: an INT8 model is saved as OpenVINO IR; name it *.xml")
    if calibration_size < 1:
        raise UsageError("--calibration-size must be at least 1")
    proto = spec.protocol(protocol)
    output.parent.mkdir(parents=True, exist_ok=True)
    fp32_file, _ = export_model(spec, fp32_sibling(output), protocol=protocol, net=net,
                                target="openvino")

    skipped: list[tuple[str, str]] = []
    views = list(calibration_views(calibration, proto, calibration_size, workers=workers,
                                   skipped=skipped))
    if not views:
        reasons = "; ".join(why if v in why else f"{v}: {why}" for v, why in skipped[:3])
        raise UsageError(f"{calibration_name or 'calibration set'}: no readable video to calibrate "
                         f"on ({reasons or 'the annotation lists none'})")
    used_videos = min(len(calibration), calibration_size) - len(skipped)

    core = ov.Core()
    with permanent_signal_stack():  # NNCF compiles the model on the CPU plugin for statistics
        model = core.read_model(str(fp32_file))
        quantized = nncf.quantize(model, nncf.Dataset(views), subset_size=len(views))
    write_metadata(quantized, {
        "model": spec.name,
        "protocol": proto.describe(),
        "weights": weights,
        "fp32_reference": fp32_file.name,
        "calibration": calibration_name,
        "calibration_views": str(len(views)),
        "calibration_videos": str(used_videos),
    })
    ov.save_model(quantized, str(output), compress_to_fp16=False)
    return Int8Export(output, fp32_file, len(views), used_videos, tuple(skipped))

