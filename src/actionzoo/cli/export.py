"""``actionzoo export`` and ``actionzoo verify``: ONNX out of PyTorch, and the PASS/FAIL check that
the exported graph computes what PyTorch computes, on random and on real inputs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actionzoo.cli.options import add_weights, non_negative, positive, precision, random_weights_note
from actionzoo.cli.precision import add_drift
from actionzoo.fileio.arrays import load_array
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.fileio.paths import path_under
from actionzoo.runtime.precisions import Precision

__all__ = ["register", "verify_and_print"]


# What an exported file holds; bf16/fp16 are chosen at run time.
_FILE_PRECISIONS = (Precision.FP32, Precision.INT8)


def _file_precision(text: str) -> Precision:
    value = precision(text)
    if value not in _FILE_PRECISIONS:
        raise argparse.ArgumentTypeError(f"an exported file is fp32 or int8, not {text!r}; bf16/fp16 "
                                         "are run-time choices (eval/bench/predict --precision)")
    return value


def _verify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-random", type=positive, default=2, help="random batches of 2 views per shape")
    p.add_argument("--inputs", help="also compare on preprocessed videos (a `preprocess --out` folder)")
    p.add_argument("--max-videos", type=positive, default=4)
    p.add_argument("--openvino", action="store_true", help="verify OpenVINO (f32) too")
    p.add_argument("--threads", type=positive)
    p.add_argument("--report", help="write the verification report as JSON")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export to ONNX (dynamic batch, height, width) and verify against PyTorch")
    p.add_argument("model")
    add_weights(p)
    p.add_argument("-o", "--output", required=True, help="model.onnx to write")
    p.add_argument("--protocol", default="official", help="whose view shape to trace (and pin with --static)")
    p.add_argument("--static", action="store_true",
                   help="pin the protocol's view shape (only the batch stays free) for compilers that need it")
    p.add_argument("--target", choices=["onnxruntime", "openvino"], default="onnxruntime",
                   help="the runtime the graph is shaped for (TSM runs its shift as a 5D depthwise "
                        "conv for OpenVINO); both runtimes read either file")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--simplify", action="store_true", help="simplify the graph with onnxslim")
    p.add_argument("--no-verify", action="store_true")
    _verify_options(p)
    int8 = p.add_argument_group("INT8 (OpenVINO IR quantized by NNCF on views of your videos)")
    int8.add_argument("--precision", type=_file_precision, choices=_FILE_PRECISIONS,
                      default=Precision.FP32,
                      help="int8: post-training quantization, saved as OpenVINO IR (-o model.xml) "
                           "with the fp32 graph beside it; bf16/fp16 are run-time choices "
                           "(eval/bench/predict --precision)")
    int8.add_argument("--calibration", help="annotation file of the calibration videos")
    int8.add_argument("--data-root", help="folder the calibration annotation's paths are relative to")
    int8.add_argument("--ann-format", default="auto", help="format of --calibration/--drift-ann")
    int8.add_argument("--labels", help="classInd.txt / labels.json, if not beside the annotation")
    int8.add_argument("--calibration-size", type=positive, default=100,
                      help="preprocessed views to calibrate on (default 100), spread over the videos")
    int8.add_argument("--drift-ann", help="held-out videos to measure the drift on (default: the "
                                          "calibration annotation's videos after those calibrated on)")
    add_drift(int8)
    int8.add_argument("--input-size", type=positive,
                      help="calibrate and measure at another crop size (as eval --input-size)")
    int8.add_argument("--workers", type=non_negative, default=2, help="decode worker processes")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("verify", help="compare an exported model with PyTorch: PASS/FAIL")
    p.add_argument("model")
    add_weights(p)
    p.add_argument("--model-file", required=True, help="the exported .onnx (or OpenVINO .xml)")
    p.add_argument("--protocol", default="official")
    p.add_argument("--static", action="store_true", help="the file was exported with --static")
    _verify_options(p)
    p.set_defaults(handler=run_verify)


def _batches(spec, protocol_name: str, args: argparse.Namespace) -> tuple[list[tuple], str]:
    from actionzoo.evaluation.staged import read_index
    from actionzoo.export.examples import example_inputs
    from actionzoo.export.onnx import verification_shapes

    protocol = spec.protocol(protocol_name)
    shapes = verification_shapes(spec, protocol_name, static=args.static)
    batches: list[tuple] = [
        example_inputs(protocol, batch=2, seed=s, num_frames=t, frame_size=(h, w))
        for t, h, w in shapes for s in range(args.num_random)
    ]
    what = f"random ({len(shapes)} shapes: " + ", ".join(f"{t}x{h}x{w}" for t, h, w in shapes) + ")"
    if getattr(args, "inputs", None):
        rows = [r for r in read_index(args.inputs) if r.status == "ok"]
        index = Path(args.inputs) / "index.csv"
        real = [load_array(path_under(args.inputs, r.file, source=index, what="file"),
                           "preprocessed input") for r in rows[: args.max_videos]]
        batches = [(views,) for views in real] + batches
        what = f"{what} + {len(real)} preprocessed-video"
    return batches, what


def verify_and_print(args: argparse.Namespace, spec, net, model_file: Path) -> int:
    from actionzoo.engines.registry import create_engine
    from actionzoo.export.verify import verify_engine

    batches, what = _batches(spec, args.protocol, args)
    reference = create_engine("pytorch", model=net)
    names = []
    if Path(model_file).suffix == ".onnx":
        names.append("onnxruntime")
    if args.openvino or Path(model_file).suffix == ".xml" or getattr(args, "target", "") == "openvino":
        names.append("openvino")
    candidates = [create_engine(name, model_file=model_file, threads=args.threads) for name in names]
    status = 0
    reports = []
    for candidate in candidates:
        report = verify_engine(reference, candidate, batches, inputs=what)
        print(report.render())
        reports.append(report.to_dict())
        status |= 0 if report.passed else 1
    if getattr(args, "report", None):
        write_text_atomic(args.report, json.dumps(reports, indent=2) + "\n")
    return status


def run_export(args: argparse.Namespace) -> int:
    from actionzoo.export.onnx import export_model
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    random_weights_note(args)
    if args.precision is Precision.INT8:
        return _export_int8(args, spec)
    path, net = export_model(spec, args.output, checkpoint=args.checkpoint, protocol=args.protocol,
                             opset=args.opset, simplify=args.simplify, trusted=args.trust_checkpoint,
                             static=args.static, target=args.target)
    shape = "static " + "x".join(map(str, spec.protocol(args.protocol).view_shape[1:])) \
        if args.static else "dynamic batch, height, width" + (", time" if spec.dynamic_time else "")
    print(f"exported {spec.name} to {path} ({shape}; traced at the {args.protocol} view shape)")
    if args.no_verify:
        return 0
    return verify_and_print(args, spec, net, path)


def run_verify(args: argparse.Namespace) -> int:
    from actionzoo.zoo.registry import build_model, get_model_spec

    spec = get_model_spec(args.model)
    net = build_model(spec, args.checkpoint, trusted=args.trust_checkpoint)
    return verify_and_print(args, spec, net, Path(args.model_file))


def _export_int8(args: argparse.Namespace, spec) -> int:
    from actionzoo.cli.options import protocol_for, require
    from actionzoo.data.annotations import read_annotations
    from actionzoo.engines.openvino import OpenVinoEngine
    from actionzoo.precision.int8 import quantize_int8
    from actionzoo.precision.measure import drift_on_videos
    from actionzoo.zoo.registry import build_model

    require(args, "export --precision int8", ["--calibration", "--data-root"])
    if args.static or args.target != "onnxruntime" or args.simplify:
        print("note: an INT8 export is traced for OpenVINO with dynamic shapes; --static, "
              "--target and --simplify do not apply", file=sys.stderr)
    calibration = read_annotations(args.calibration, args.data_root, format=args.ann_format,
                                   labels=args.labels)
    net = build_model(spec, args.checkpoint, trusted=args.trust_checkpoint)
    protocol = protocol_for(args, spec)
    result = quantize_int8(spec, args.output, calibration.records, net=net, protocol=protocol,
                           calibration_size=args.calibration_size, calibration_name=args.calibration,
                           workers=args.workers, weights=str(args.checkpoint or "random"))
    for video, why in result.skipped_videos:
        print(f"skipped for calibration: {why if video in why else f'{video}: {why}'}",
              file=sys.stderr)
    print(f"quantized {spec.name} to INT8 on {result.calibration_views} views of "
          f"{result.calibration_videos} videos of {args.calibration}: {result.model_file} "
          f"(fp32 graph: {result.fp32_file})")

    if args.drift_ann:
        held_out = read_annotations(args.drift_ann, args.data_root, format=args.ann_format,
                                    labels=args.labels).records
        inputs = f"videos of {args.drift_ann}"
    else:
        used = min(len(calibration.records), args.calibration_size)
        held_out = calibration.records[used:]
        inputs = f"held-out videos of {args.calibration} (not calibrated on)"
        if not held_out:
            held_out = calibration.records
            inputs = f"videos of {args.calibration} (the calibration videos: none was held out)"
    held_out = held_out[: args.drift_videos]
    drift = None
    if held_out:
        reference = OpenVinoEngine(result.fp32_file, threads=args.threads)
        candidate = OpenVinoEngine(result.model_file, threads=args.threads)
        drift = drift_on_videos(held_out, protocol, reference=reference, candidate=candidate,
                                batch_size=8, workers=args.workers, inputs=inputs)
        print(drift.render())
    else:
        print("drift of int8 vs fp32: not measured (--drift-videos 0)")
    if args.report:
        write_text_atomic(args.report, json.dumps({
            "model_file": str(result.model_file), "fp32_file": str(result.fp32_file),
            "calibration_views": result.calibration_views,
            "calibration_videos": result.calibration_videos,
            "drift": drift.to_dict() if drift is not None else None},
            indent=2) + "\n")
    return 0
