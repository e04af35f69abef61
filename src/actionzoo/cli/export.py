"""``actionzoo export`` and ``actionzoo verify``: ONNX out of PyTorch, and the PASS/FAIL check that
the exported graph computes what PyTorch computes, on random and on real inputs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from actionzoo.cli.options import (
    add_ann_format,
    add_weights,
    non_negative,
    positive,
    precision,
    random_weights_note,
)
from actionzoo.cli.precision import add_drift
from actionzoo.fileio.atomic import write_text_atomic
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
    p.add_argument("--input-size", type=positive,
                   help="the protocol at another crop size N, as eval --input-size (a model trained "
                        "with `train --input-size N`): traced, verified, pinned by --static; an INT8 "
                        "export also calibrates and measures there")


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
    add_ann_format(int8)  # of --calibration and --drift-ann
    int8.add_argument("--labels", help="classInd.txt / labels.json, if not beside the annotation")
    int8.add_argument("--calibration-size", type=positive, default=100,
                      help="preprocessed views to calibrate on (default 100), spread over the videos")
    int8.add_argument("--drift-ann", help="held-out videos to measure the drift on (default: the "
                                          "calibration annotation's videos after those calibrated on)")
    add_drift(int8)
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


def verify_and_print(args: argparse.Namespace, spec, net, model_file: Path) -> int:
    from actionzoo.export.check import VerifyOptions, verify_export

    from actionzoo.evaluation.staged import preprocessed_views

    inputs = getattr(args, "inputs", None)
    options = VerifyOptions(protocol=args.protocol, input_size=args.input_size, static=args.static,
                            num_random=args.num_random,
                            real_inputs=preprocessed_views(inputs, args.max_videos) if inputs else (),
                            openvino=args.openvino, target=getattr(args, "target", ""),
                            threads=args.threads)
    reports = verify_export(spec, net, model_file, options)
    for report in reports:
        print(report.render())
    if getattr(args, "report", None):
        write_text_atomic(args.report, json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
    return 0 if all(report.passed for report in reports) else 1


def run_export(args: argparse.Namespace) -> int:
    from actionzoo.export.onnx import export_model, traced_protocol
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    random_weights_note(args)
    if args.precision is Precision.INT8:
        return _export_int8(args, spec)
    path, net = export_model(spec, args.output, checkpoint=args.checkpoint, protocol=args.protocol,
                             input_size=args.input_size, opset=args.opset, simplify=args.simplify,
                             trusted=args.trust_checkpoint, static=args.static, target=args.target)
    traced = traced_protocol(spec, args.protocol, args.input_size)
    shape = "static " + "x".join(map(str, traced.view_shape[1:])) \
        if args.static else "dynamic batch, height, width" + (", time" if spec.dynamic_time else "")
    print(f"exported {spec.name} to {path} ({shape}; traced at the {args.protocol} view shape"
          + (f" at input size {args.input_size})" if args.input_size else ")"))
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
    from actionzoo.precision import Int8Options, export_int8

    require(args, "export --precision int8", ["--calibration", "--data-root"])
    if args.static or args.target != "onnxruntime" or args.simplify:
        print("note: an INT8 export is traced for OpenVINO with dynamic shapes; --static, "
              "--target and --simplify do not apply", file=sys.stderr)
    options = Int8Options(protocol=protocol_for(args, spec), calibration_size=args.calibration_size,
                          drift_ann=args.drift_ann, drift_videos=args.drift_videos,
                          ann_format=args.ann_format, labels=args.labels, workers=args.workers,
                          threads=args.threads)
    result = export_int8(spec, args.output, args.calibration, args.data_root,
                         checkpoint=args.checkpoint, trusted=args.trust_checkpoint, options=options)
    for line in result.skipped_lines():
        print(line, file=sys.stderr)
    print(result.summary())
    print(result.drift_text())
    for line in result.speed:
        print(line)
    if args.report:
        write_text_atomic(args.report, json.dumps(result.to_dict(), indent=2) + "\n")
    return 0
