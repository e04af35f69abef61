"""ONNX export and its verification against PyTorch.

Export uses torch's TorchScript-based exporter (``dynamo=False``): it needs no extra packages and
exports every model here in about a second. The batch axis is dynamic (one view per batch item);
T, H and W are fixed by the protocol the graph is exported for, which lets runtimes plan memory.
Rewrites that only export needs live here, never in the model code.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from actionzoo.engines.all import Engine
from actionzoo.errors import UsageError
from actionzoo.export.adapters import roi_align_as_onnx_op
from actionzoo.zoo.protocols import AvaKeyframePipeline, MMAction2Pipeline, Protocol

__all__ = [
    "DEFAULT_OPSET",
    "VERIFY_TOLERANCE",
    "clip_shape_for",
    "export_onnx",
    "export_model",
    "example_inputs",
    "VerifyReport",
    "verify_engine",
]

# Opset 17 runs on ONNX Runtime >= 1.13 and OpenVINO >= 2022.3 and has RoiAlign's half_pixel mode.
DEFAULT_OPSET = 17
# An export passes when its largest deviation from PyTorch is at most this fraction of the
# largest PyTorch output magnitude (and top-1 agrees on every input).
VERIFY_TOLERANCE = 1e-4


def clip_shape_for(protocol: Protocol) -> tuple[int, int, int, int]:
    """(C, T, H, W) of one view under ``protocol``."""
    pipeline = protocol.pipeline
    if isinstance(pipeline, MMAction2Pipeline):
        return (3, pipeline.frames_per_view, pipeline.crop_size, pipeline.crop_size)
    if isinstance(pipeline, AvaKeyframePipeline):
        # Full frames keep their aspect ratio; a 4:3 frame is the common AVA case.
        short = pipeline.short_side
        return (3, pipeline.num_frames, short, short * 4 // 3)
    return (3, pipeline.num_frames, pipeline.crop_size, pipeline.crop_size)


def export_onnx(
    model: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    out: str | Path,
    *,
    input_names: tuple[str, ...] = ("video",),
    dynamic_axes: dict[str, dict[int, str]] | None = None,
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
) -> Path:
    """Export ``model`` (eval mode) to ``out``; returns the path written.

    ``dynamic_axes`` defaults to a dynamic batch on every input and on the output.
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise UsageError(f"{out}: the output file must end in .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    if dynamic_axes is None:
        dynamic_axes = {name: {0: "batch"} for name in input_names}
        dynamic_axes["scores"] = {0: "batch"}
    tmp = out.with_name(out.name + ".partial")
    with warnings.catch_warnings(), roi_align_as_onnx_op(model):
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer chatter
        torch.onnx.export(
            model,
            example_inputs,
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=list(input_names),
            output_names=["scores"],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    if simplify:
        import onnxslim

        onnx.save(onnxslim.slim(onnx.load(str(tmp))), str(tmp))
    onnx.checker.check_model(str(tmp))
    tmp.replace(out)  # a crash mid-export never leaves a truncated model.onnx behind
    return out


@dataclass
class VerifyReport:
    """How far an engine's outputs are from PyTorch's on the same inputs."""

    engine: str
    num_inputs: int
    max_abs_diff: float
    mean_abs_diff: float
    output_scale: float  # max |PyTorch output|
    top1_agreement: float  # fraction of inputs whose arg-max class agrees
    top5_agreement: float  # fraction whose top-5 sets agree
    tolerance: float
    inputs: str  # "random" or what real data was used

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / max(self.output_scale, 1e-12)

    @property
    def passed(self) -> bool:
        return self.relative_diff <= self.tolerance and self.top1_agreement == 1.0

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "relative_diff": self.relative_diff, "passed": self.passed}

    def render(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}  {self.engine} vs PyTorch on {self.num_inputs} {self.inputs} inputs: "
            f"max |diff| {self.max_abs_diff:.3g} ({self.relative_diff:.2e} of output scale "
            f"{self.output_scale:.3g}; tolerance {self.tolerance:g}), mean |diff| "
            f"{self.mean_abs_diff:.3g}, top-1 agreement {self.top1_agreement:.1%}, "
            f"top-5 agreement {self.top5_agreement:.1%}"
        )


def _topk_sets(scores: np.ndarray, k: int) -> list[frozenset[int]]:
    k = min(k, scores.shape[1])
    return [frozenset(np.argsort(-row, kind="stable")[:k].tolist()) for row in scores]


def verify_engine(
    reference: Engine,
    candidate: Engine,
    batches: list[tuple[np.ndarray, ...]],
    *,
    tolerance: float = VERIFY_TOLERANCE,
    inputs: str = "random",
) -> VerifyReport:
    """Run both engines on every batch and compare outputs element-wise and by ranking."""
    ref_rows, cand_rows = [], []
    for batch in batches:
        ref_rows.append(np.asarray(reference.run(*batch), dtype=np.float64))
        cand_rows.append(np.asarray(candidate.run(*batch), dtype=np.float64))
    ref = np.concatenate(ref_rows)
    cand = np.concatenate(cand_rows)
    if ref.shape != cand.shape:
        raise RuntimeError(f"{candidate.describe()} returned {cand.shape}, PyTorch {ref.shape}")
    diff = np.abs(ref - cand)
    n = len(ref)
    top1 = float(np.mean(ref.argmax(1) == cand.argmax(1))) if n else 1.0
    top5 = (
        float(np.mean([a == b for a, b in zip(_topk_sets(ref, 5), _topk_sets(cand, 5))])) if n else 1.0
    )
    return VerifyReport(
        engine=candidate.describe(),
        num_inputs=n,
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        output_scale=float(np.abs(ref).max()) if ref.size else 0.0,
        top1_agreement=top1,
        top5_agreement=top5,
        tolerance=tolerance,
        inputs=inputs,
    )


# Boxes per clip for detection exports and benchmarks (AVA keyframes average a few people).
BOXES_PER_CLIP = 4


def example_inputs(
    protocol: Protocol,
    batch: int,
    seed: int = 0,
    boxes_per_clip: int = BOXES_PER_CLIP,
    frame_size: tuple[int, int] | None = None,
) -> tuple[np.ndarray, ...]:
    """Random normalised-looking model inputs for one batch of clips under ``protocol``.

    Detection protocols add ``boxes_per_clip`` random boxes per clip, rows
    ``[batch_index, x1, y1, x2, y2]`` in input pixels; ``frame_size`` (H, W) overrides their
    default full-frame size.
    """
    rng = np.random.default_rng(seed)
    c, t, h, w = clip_shape_for(protocol)
    if frame_size is not None:
        h, w = frame_size
    clips = rng.standard_normal((batch, c, t, h, w), dtype=np.float32)
    if not isinstance(protocol.pipeline, AvaKeyframePipeline):
        return (clips,)
    k = batch * boxes_per_clip
    corners = rng.uniform(0, 1, size=(k, 2, 2)) * np.array([w, h])
    low, high = corners.min(axis=1), corners.max(axis=1) + 8.0  # at least 8 pixels wide
    boxes = np.concatenate([np.repeat(np.arange(batch), boxes_per_clip)[:, None], low, high], 1)
    return clips, boxes.astype(np.float32)


def export_model(
    model_name: str,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    protocol: str = "official",
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
    trusted: bool = False,
) -> tuple[Path, torch.nn.Module]:
    """Export a registered model for the view shape of ``protocol``; returns (path, torch model)."""
    from actionzoo.zoo.registry import build_model, get_model_spec

    spec = get_model_spec(model_name)
    proto = spec.protocol(protocol)
    model = build_model(model_name, checkpoint, trusted=trusted)
    # A batch of 2 keeps the exporter from specialising the batch axis to 1.
    example = tuple(torch.from_numpy(a) for a in example_inputs(proto, batch=2))
    if spec.task == "detection":
        # AVA clips are full frames: their height and width vary with the video's aspect ratio.
        path = export_onnx(
            model, example, out, input_names=("video", "boxes"), opset=opset, simplify=simplify,
            dynamic_axes={"video": {0: "batch", 3: "height", 4: "width"}, "boxes": {0: "boxes"},
                          "scores": {0: "boxes"}},
        )
    else:
        path = export_onnx(model, example, out, opset=opset, simplify=simplify)
    return path, model
