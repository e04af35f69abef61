"""Option groups several commands share, option types, and turning options into API objects.

Strings become types here, once: a model name becomes its spec, an engine name its kind, a
protocol name its protocol. Command modules receive those.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from actionzoo.errors import UsageError
from actionzoo.runtime.precisions import Precision

__all__ = [
    "positive",
    "non_negative",
    "batch_sizes",
    "engine_list",
    "precision",
    "add_weights",
    "add_engine",
    "add_progress",
    "add_data",
    "add_protocol",
    "protocol_for",
    "add_ava_layout",
    "build_engine",
    "engine_names",
    "engine_options",
    "random_weights_note",
    "require",
    "table",
]


# ------------------------------------------------------------------------------------ types


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def engine_list(text: str) -> str:
    """``--engine``: a name from the engine table, or several comma-separated. The table is read
    when the option is parsed, so an engine added with ``register_engine`` is accepted."""
    from actionzoo.engines.registry import ENGINES

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENGINES] or ([] if names else [text])
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown engine {unknown[0]!r}; choose from "
                                         f"{', '.join(ENGINES)}")
    return text


def precision(text: str) -> Precision:
    """``--precision``: text becomes a :class:`Precision` here, once."""
    try:
        return Precision(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown precision {text!r}; choose from "
                                         f"{', '.join(Precision)}") from None


def batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return sizes


# ---------------------------------------------------------------------------- option groups


def add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="official checkpoint (.pth/.pyth/.pkl); random weights if omitted")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle arbitrary objects (only for files from a trusted source)")


def add_engine(p: argparse.ArgumentParser, default: str = "onnxruntime", *, drift: bool = True,
               upload: bool = True) -> None:
    """The engine options; a verb that measures no drift (``drift=False``) or feeds the engine no
    decoded views (``upload=False``) does not take ``--reference`` / ``--upload``, so argparse
    refuses them there instead of ignoring them."""
    from actionzoo.engines.registry import ENGINES

    p.add_argument("--engine", type=engine_list,
                   help=f"one of {', '.join(ENGINES)} (default: {default}; openvino for a "
                        "--model-file .xml, onnxruntime for a .onnx)")
    p.add_argument("--model-file", help="exported .onnx or OpenVINO .xml (onnxruntime and openvino engines)")
    p.add_argument("--precision", type=precision, default=Precision.FP32, choices=list(Precision),
                   help="fp32 (default); bf16/fp16 for pytorch (autocast) and openvino; int8 is an "
                        "INT8 .xml from `export --precision int8` (its precision is read from the "
                        "file). A reduced precision prints its drift vs fp32")
    if drift:
        p.add_argument("--reference", help="the fp32 .onnx/.xml to measure a reduced precision's "
                                           "drift against (default: found from the engine or the "
                                           "INT8 file)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i] for the pytorch engines")
    p.add_argument("--threads", type=positive, help="engine threads (default: all cores)")
    torch_options = p.add_argument_group("pytorch engines on a device")
    torch_options.add_argument("--channels-last", action="store_true",
                               help="channels-last-3d memory format for the model and its inputs")
    torch_options.add_argument("--cuda-graphs", action="store_true",
                               help="replay a captured CUDA graph per batch shape (cuda only)")
    if upload:
        torch_options.add_argument("--upload", choices=["auto", "float32", "uint8"], default="auto",
                                   help="uint8: views leave the workers as uint8 and are normalised "
                                        "on the device (mmaction2 protocols; exact); auto: uint8 on "
                                        "cuda")
    p.set_defaults(default_engine=default)


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def engine_names(args: argparse.Namespace) -> list[str]:
    """The engines the options name: ``--engine`` (comma-separated where a command compares
    several), else the one a ``--model-file`` calls for, else the command's default."""
    if getattr(args, "engine", None):
        return [name.strip() for name in args.engine.split(",") if name.strip()]
    model_file = getattr(args, "model_file", None)
    if model_file:
        return ["openvino" if str(model_file).endswith(".xml") else "onnxruntime"]
    return [getattr(args, "default_engine", "onnxruntime")]


def add_protocol(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default="official", help="the model's test protocol (see `actionzoo models`)")
    p.add_argument("--input-size", type=positive,
                   help="run the protocol at another crop size N (mmaction2 protocols; the short side "
                        "scales with it), e.g. for a model trained with `train --input-size N`")


def protocol_for(args: argparse.Namespace, spec):
    """The protocol the options name, resized by ``--input-size`` when given."""
    protocol = spec.protocol(args.protocol)
    size = getattr(args, "input_size", None)
    return protocol.scaled(size) if size else protocol


def add_ann_format(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--ann-format``: its choices and help come from the one table of annotation formats."""
    from actionzoo.data.annotations import FORMATS, format_help

    p.add_argument("--ann-format", default="auto", choices=("auto", *FORMATS), metavar="FORMAT",
                   help=format_help())


def add_data(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--ann", required=required, help="annotation file (any supported format)")
    p.add_argument("--data-root", required=required,
                   help="folder the annotation's paths are relative to")
    add_ann_format(p)
    p.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2), if not beside --ann")
    p.add_argument("--class-names", help="file with one class name per line (for reports)")


def add_ava_layout(p: argparse.ArgumentParser, title: str = "AVA detector (slowfast_r50_ava)") -> None:
    detection = p.add_argument_group(title)
    detection.add_argument("--frames-dir", help="frames/{video_id}/{video_id}_{n:06d}.jpg")
    detection.add_argument("--frame-list", help="frame_lists/val.csv")
    detection.add_argument("--boxes", help="person boxes CSV or proposals .pkl (score >= 0.8 kept)")
    detection.add_argument("--gt", help="ava_val_v2.2.csv")
    detection.add_argument("--labelmap", help="ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    detection.add_argument("--excluded", help="ava_val_excluded_timestamps_v2.2.csv")


# ------------------------------------------------------------------------------- conversions


def engine_options(args: argparse.Namespace, engine_name: str | None = None):
    """The engine the options ask for (``engine_name``, else the first ``--engine``), as the
    typed value the API takes."""
    from actionzoo.engines.options import EngineOptions

    return EngineOptions(
        engine=engine_name or engine_names(args)[0],
        checkpoint=getattr(args, "checkpoint", None),
        trust_checkpoint=getattr(args, "trust_checkpoint", False),
        model_file=getattr(args, "model_file", None),
        precision=getattr(args, "precision", Precision.FP32),
        device=getattr(args, "device", "cpu"),
        threads=getattr(args, "threads", None),
        channels_last=getattr(args, "channels_last", False),
        cuda_graphs=getattr(args, "cuda_graphs", False),
        upload=getattr(args, "upload", "auto"),
    )


def build_engine(args: argparse.Namespace, model: object = None, engine_name: str | None = None):
    """The engine the options ask for, built by the API from :func:`engine_options`."""
    from actionzoo.engines.options import build_engine as build

    return build(model if model is not None else args.model, engine_options(args, engine_name))


def random_weights_note(args: argparse.Namespace) -> None:
    if getattr(args, "checkpoint", None) is None and getattr(args, "model_file", None) is None:
        print("note: no --checkpoint given: the weights are RANDOM, accuracy will be at chance",
              file=sys.stderr)


def require(args: argparse.Namespace, what: str, options: Sequence[str]) -> None:
    missing = [o for o in options if getattr(args, o.lstrip("-").replace("-", "_")) is None]
    if missing:
        raise UsageError(f"{what} needs {', '.join(missing)}")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
