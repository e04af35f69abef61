"""``actionzoo export`` / ``verify`` as one call: an exported file run beside PyTorch on random
inputs of every shape the export promises, and on preprocessed real videos when given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from actionzoo.export.verify import VerifyReport

__all__ = ["VerifyOptions", "verify_export"]


@dataclass(frozen=True)
class VerifyOptions:
    """``num_random``: random batches of 2 views per shape; ``inputs``: a ``preprocess --out``
    folder whose first ``max_videos`` inputs are compared too; ``openvino``: also verify OpenVINO
    on an ``.onnx`` file (an ``.xml`` file, or ``target`` openvino, always is)."""

    protocol: str = "official"
    input_size: int | None = None  # the protocol at another crop size (eval --input-size)
    static: bool = False
    num_random: int = 2
    real_inputs: tuple = ()  # preprocessed videos' views (evaluation.staged.preprocessed_views)
    openvino: bool = False
    target: str = ""
    threads: int | None = None


def _batches(spec, options: VerifyOptions) -> tuple[list[tuple], str]:
    from actionzoo.data.examples import example_inputs
    from actionzoo.export.onnx import traced_protocol, verification_shapes

    protocol = traced_protocol(spec, options.protocol, options.input_size)
    shapes = verification_shapes(spec, options.protocol, static=options.static,
                                 input_size=options.input_size)
    batches: list[tuple] = [
        example_inputs(protocol, batch=2, seed=s, num_frames=t, frame_size=(h, w))
        for t, h, w in shapes for s in range(options.num_random)
    ]
    what = f"random ({len(shapes)} shapes: " + ", ".join(f"{t}x{h}x{w}" for t, h, w in shapes) + ")"
    if options.real_inputs:
        batches = [(views,) for views in options.real_inputs] + batches
        what = f"{what} + {len(options.real_inputs)} preprocessed-video"
    return batches, what


def verify_export(spec, net: torch.nn.Module, model_file: str | Path,
                  options: VerifyOptions | None = None) -> list[VerifyReport]:
    """One report per runtime the file is checked in (ONNX Runtime for ``.onnx``, OpenVINO for
    ``.xml`` or when asked), each against ``net`` in PyTorch on the same inputs."""
    from actionzoo.engines.registry import create_engine
    from actionzoo.export.verify import verify_engine

    options = options or VerifyOptions()
    batches, what = _batches(spec, options)
    reference = create_engine("pytorch", model=net)
    candidates = []
    if Path(model_file).suffix == ".onnx":
        candidates.append(create_engine("onnxruntime", model_file=model_file, threads=options.threads))
    if options.openvino or Path(model_file).suffix == ".xml" or options.target == "openvino":
        candidates.append(create_engine("openvino", model_file=model_file, threads=options.threads))
    return [verify_engine(reference, candidate, batches, inputs=what) for candidate in candidates]
