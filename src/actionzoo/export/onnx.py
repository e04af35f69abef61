"""ONNX export of a registered model.

Export uses torch's TorchScript-based exporter (``dynamo=False``): it needs no extra packages and
exports every model here in about a second. By default the batch, height and width axes are
dynamic, and time too where the network allows it (``ModelSpec.dynamic_time``), so one file serves
every protocol and frame size; ``static=True`` pins the protocol's view shape for compilers that
need one. Rewrites that only export needs live beside this module, never in the model code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from actionzoo.errors import UsageError
from actionzoo.fileio.atomic import atomic_path
from actionzoo.export.adapters import for_target, roi_align_as_onnx_op
from actionzoo.data.examples import example_inputs
from actionzoo.zoo.registry import build_model, get_model_spec
from actionzoo.zoo.spec import ModelSpec, Task

__all__ = ["DEFAULT_OPSET", "export_onnx", "export_model", "dynamic_axes_for", "traced_protocol",
           "verification_shapes"]

#: Runtimes an export can be shaped for.
TARGETS = ("onnxruntime", "openvino")

# Opset 17 runs on ONNX Runtime >= 1.13 and OpenVINO >= 2022.3 and has RoiAlign's half_pixel mode.
DEFAULT_OPSET = 17


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
    with atomic_path(out) as tmp:  # a crash mid-export never leaves a truncated model.onnx
        _export_to(tmp, model, example_inputs, input_names, dynamic_axes, opset, simplify)
    return out


def _export_to(tmp: Path, model: torch.nn.Module, example_inputs: tuple, input_names: Sequence[str],
               dynamic_axes: dict, opset: int, simplify: bool) -> None:
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


def dynamic_axes_for(spec: ModelSpec, *, static: bool = False) -> dict[str, dict[int, str]]:
    """The exported graph's symbolic axes: batch always (box count for detectors); time, height
    and width unless ``static``, time only where the network allows it."""
    video = {0: "batch"}
    if not static:
        if spec.dynamic_time:
            video[2] = "time"
        video.update({3: "height", 4: "width"})
    if spec.task is Task.DETECTION:
        return {"video": video, "boxes": {0: "boxes"}, "scores": {0: "boxes"}}
    return {"video": video, "scores": {0: "batch"}}


def traced_protocol(spec: ModelSpec, protocol_name: str = "official", input_size: int | None = None):
    """The protocol an export is traced and verified at: ``protocol_name``'s, at ``input_size``
    when given (a model trained with ``train --input-size N``)."""
    protocol = spec.protocol(protocol_name)
    return protocol.scaled(input_size) if input_size else protocol


def verification_shapes(spec: ModelSpec, protocol_name: str = "official", *,
                        static: bool = False, input_size: int | None = None) -> list[tuple[int, int, int]]:
    """(T, H, W) input shapes an export is verified on: the protocol's view shape and, for a
    dynamic export, one more (every other protocol's at the same input size, or another frame)."""
    shapes = [traced_protocol(spec, protocol_name, input_size).view_shape[1:]]
    if static:
        return shapes
    for name in spec.protocols:
        shape = traced_protocol(spec, name, input_size).view_shape[1:]
        if shape not in shapes and (spec.dynamic_time or shape[0] == shapes[0][0]):
            shapes.append(shape)
    if len(shapes) == 1:
        t, h, w = shapes[0]
        step = min(32, h // 4)  # 224 x 224 -> 192 x 256; 64 x 64 -> 48 x 80
        shapes.append((t, h - step, w + step))
    return shapes


def export_model(
    model: str | ModelSpec,
    out: str | Path,
    *,
    checkpoint: str | Path | None = None,
    protocol: str = "official",
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    simplify: bool = False,
    trusted: bool = False,
    static: bool = False,
    net: torch.nn.Module | None = None,
    target: str = "onnxruntime",
) -> tuple[Path, torch.nn.Module]:
    """Export a registered model; returns (path, torch model).

    The graph is traced at ``protocol``'s view shape (at ``input_size`` when given); with
    ``static`` that shape is all it takes, otherwise batch, height, width (and time where allowed)
    stay free. ``net`` exports an already built model (e.g. one just trained) instead of building
    one from ``checkpoint``.
    """
    spec = get_model_spec(model)
    proto = traced_protocol(spec, protocol, input_size)
    if net is None:
        net = build_model(spec, checkpoint, trusted=trusted)
    # A batch of 2 keeps the exporter from specialising the batch axis to 1.
    example = tuple(torch.from_numpy(a) for a in example_inputs(proto, batch=2))
    names = spec.task.inputs
    if target not in TARGETS:
        raise UsageError(f"export target {target!r}: choose {' or '.join(TARGETS)}")
    path = export_onnx(for_target(net, target), example, out, input_names=names, opset=opset,
                       simplify=simplify, dynamic_axes=dynamic_axes_for(spec, static=static))
    return path, net
