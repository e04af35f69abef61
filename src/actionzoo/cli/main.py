"""The ``actionzoo`` command: a thin layer over the Python API.

Each subcommand parses its options, calls one API function and prints the result. Errors a user can
cause arrive as :class:`~actionzoo.errors.ActionZooError` and are printed as one line with exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Sequence

from actionzoo.errors import ActionZooError

def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- models


def _cmd_models(args: argparse.Namespace) -> int:
    from actionzoo.zoo.registry import MODELS

    if args.verbose:
        for spec in MODELS.values():
            print(f"{spec.name} — {spec.title}")
            print(f"  reference   {spec.reference}")
            print(f"  checkpoint  {', '.join(map(str, spec.checkpoint_formats))}")
            c, t, h, w = spec.clip_shape
            print(f"  input       (N, {c}, {t}, {h}, {w}) float32; output {spec.output} "
                  f"(N, {spec.num_classes})")
            n = spec.normalization
            print(f"  normalise   mean {n.mean} std {n.std} on 0..{n.value_range:g} RGB")
            print(f"  cost        {spec.num_params / 1e6:.2f} M params, {spec.gflops:.1f} GFLOPs/view")
            for proto in spec.protocols.values():
                print(f"  protocol    {proto.describe()} [{proto.source}]")
            for acc in spec.accuracy:
                top5 = f"{acc.top5:.2f}" if acc.top5 is not None else "–"
                print(f"  accuracy    {acc.metric} {acc.top1:.2f} top-5 {top5} ({acc.protocol}; "
                      f"{acc.data}; {acc.source})")
            print()
        return 0
    rows = []
    for spec in MODELS.values():
        for i, acc in enumerate(spec.accuracy):
            top5 = f"{acc.top5:.2f}" if acc.top5 is not None else "–"
            first = f"{acc.top1:.2f}" if acc.metric == "top-1" else f"{acc.metric} {acc.top1:.2f}"
            rows.append([
                spec.name if i == 0 else "",
                acc.protocol,
                first,
                top5,
                f"{spec.num_params / 1e6:.1f}M",
                f"{spec.gflops:.1f}",
            ])
    print(_table(rows, ["model", "protocol (views, score)", "top-1", "top-5", "params", "GFLOPs/view"]))
    return 0


# --------------------------------------------------------------------------------- inspect


def _cmd_inspect(args: argparse.Namespace) -> int:
    from actionzoo.zoo.inspect import inspect_checkpoint

    info = inspect_checkpoint(args.checkpoint, trusted=args.trust_checkpoint)
    print(f"file        {info.path}")
    print(f"format      {info.format}")
    print(f"keys        {info.num_keys} ({info.num_parameters:,} parameters)")
    if info.extras:
        print(f"also holds  {', '.join(info.extras)}")
    if info.ignored:
        print(f"ignored     {len(info.ignored)} entries (optimizer state / bookkeeping)")
    for fit in info.fits:
        if fit.report.fits and fit.format_accepted:
            verdict = f"fits ({fit.num_classes} classes)"
        elif fit.report.fits:
            verdict = f"keys fit, but the registry does not accept {info.format} files for it"
        else:
            verdict = f"does not fit: {fit.report.summary()}"
        print(f"{fit.model:<28}{verdict}")
    if not info.matching:
        print("no registered model fits this checkpoint")
        return 1
    return 0


# ------------------------------------------------------------------------- shared helpers


def _read_records(args: argparse.Namespace, num_classes: int | None):
    from actionzoo.data.annotations import read_annotations

    return read_annotations(
        args.ann, args.data_root, format=args.ann_format, labels=args.labels,
        class_names=args.class_names, num_classes=num_classes,
    )


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ann", required=True, help="annotation file (any supported format)")
    p.add_argument("--data-root", required=True, help="folder the annotation's paths are relative to")
    p.add_argument("--ann-format", default="auto",
                   help="videos, rawframes, pyslowfast, kinetics_csv, ucf101, sthv2 (default: auto)")
    p.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2), if not beside --ann")
    p.add_argument("--class-names", help="file with one class name per line (for reports)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return sizes


def _engine_for(args: argparse.Namespace, engine_name: str | None = None):
    """The engine the options ask for: PyTorch from --checkpoint, others from --model-file."""
    from actionzoo.engines.all import create_engine
    from actionzoo.zoo.registry import build_model

    name = engine_name or args.engine
    model = None
    if name.startswith("pytorch"):
        model = build_model(args.model, getattr(args, "checkpoint", None),
                            trusted=getattr(args, "trust_checkpoint", False))
    return create_engine(name, model=model, model_file=getattr(args, "model_file", None),
                         threads=getattr(args, "threads", None),
                         precision=getattr(args, "precision", "fp32"))


def _random_weights_note(args: argparse.Namespace) -> None:
    if getattr(args, "checkpoint", None) is None and getattr(args, "model_file", None) is None:
        print("note: no --checkpoint given: the weights are RANDOM, accuracy will be at chance",
              file=sys.stderr)


# ------------------------------------------------------------------------------ preprocess


def _cmd_preprocess(args: argparse.Namespace) -> int:
    import json

    from actionzoo.zoo.registry import get_model_spec
    from actionzoo.evaluation.staged import preprocess_dataset

    spec = get_model_spec(args.model)
    protocol = spec.protocol(args.protocol)
    if spec.task == "detection":
        from actionzoo.errors import UsageError

        raise UsageError(f"{spec.name} is a detector: `actionzoo eval {spec.name}` reads its "
                         "AVA-layout data directly")
    annotations = _read_records(args, None)
    summary = preprocess_dataset(annotations.records, protocol, args.out, workers=args.workers)
    meta = {"model": spec.name, "protocol": protocol.name, "summary": protocol.describe(),
            "annotation": str(args.ann)}
    (Path(args.out) / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {summary.written} inputs to {args.out} ({protocol.describe()}); "
          f"{summary.skipped} already there; {len(summary.failed)} failed")
    for video, reason in summary.failed:
        print(f"FAILED {video}: {reason}")
    return 0


# ---------------------------------------------------------------------------- export/verify


def _verify_and_print(args: argparse.Namespace, model, model_file: Path) -> int:
    import json

    from actionzoo.engines.all import OnnxRuntimeEngine, OpenVinoEngine, TorchEngine
    from actionzoo.export.onnx import example_inputs, verify_engine
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = spec.protocol(args.protocol)
    reference = TorchEngine(model)
    batches: list[tuple] = [example_inputs(protocol, batch=2, seed=s) for s in range(args.num_random)]
    inputs = "random"
    if getattr(args, "inputs", None):
        import numpy as np

        from actionzoo.evaluation.staged import read_index

        rows = [r for r in read_index(args.inputs) if r.status == "ok"]
        real = [np.load(Path(args.inputs) / r.file, allow_pickle=False) for r in rows[: args.max_videos]]
        batches = [(views,) for views in real] + batches
        inputs = f"random + {len(real)} preprocessed-video"
    candidates = [OnnxRuntimeEngine(model_file, threads=args.threads)]
    if args.openvino:
        candidates.append(OpenVinoEngine(model_file, threads=args.threads))
    status = 0
    reports = []
    for candidate in candidates:
        report = verify_engine(reference, candidate, batches, inputs=inputs)
        print(report.render())
        reports.append(report.to_dict())
        status |= 0 if report.passed else 1
    if getattr(args, "report", None):
        Path(args.report).write_text(json.dumps(reports, indent=2) + "\n")
    return status


def _cmd_export(args: argparse.Namespace) -> int:
    from actionzoo.export.onnx import export_model

    _random_weights_note(args)
    path, model = export_model(args.model, args.output, checkpoint=args.checkpoint,
                               protocol=args.protocol, opset=args.opset, simplify=args.simplify,
                               trusted=args.trust_checkpoint)
    print(f"exported {args.model} ({args.protocol} view shape) to {path}")
    if args.no_verify:
        return 0
    return _verify_and_print(args, model, path)


def _cmd_verify(args: argparse.Namespace) -> int:
    from actionzoo.zoo.registry import build_model

    model = build_model(args.model, args.checkpoint, trusted=args.trust_checkpoint)
    return _verify_and_print(args, model, Path(args.model_file))


# ------------------------------------------------------------------------ infer/postprocess


def _cmd_infer(args: argparse.Namespace) -> int:
    import json

    from actionzoo.evaluation.staged import infer_directory

    meta_path = Path(args.inputs) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if args.engine.startswith("pytorch") and not args.model:
        args.model = meta.get("model")
        if not args.model:
            from actionzoo.errors import UsageError

            raise UsageError("the pytorch engine needs --model (and --checkpoint)")
    engine = _engine_for(args)
    written = infer_directory(engine, args.inputs, args.out, batch_size=args.batch_size)
    if meta:
        (Path(args.out) / "meta.json").write_text(json.dumps({**meta, "engine": engine.describe()},
                                                             indent=2) + "\n")
    print(f"wrote outputs for {written} inputs to {args.out} with {engine.describe()}")
    return 0


def _cmd_postprocess(args: argparse.Namespace) -> int:
    import json

    from actionzoo.errors import UsageError
    from actionzoo.zoo.registry import get_model_spec
    from actionzoo.evaluation.staged import postprocess

    meta_path = Path(args.scores) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    model = args.model or meta.get("model")
    if not model:
        raise UsageError(f"{args.scores}: no meta.json to name the model; pass --model")
    spec = get_model_spec(model)
    protocol = spec.protocol(args.protocol or meta.get("protocol", "official"))
    if meta.get("protocol") and meta["protocol"] != protocol.name:
        made = spec.protocol(meta["protocol"])
        if made.pipeline != protocol.pipeline:
            raise UsageError(
                f"{args.scores}: inputs were made with the {made.name} protocol ({made.summary}); "
                f"{protocol.name} needs other views ({protocol.summary})"
            )
    labels = None
    if args.ann:
        records = _read_records(args, None).records
        labels = {r.video_id: r.label for r in records}
    result = postprocess(args.scores, protocol, labels=labels)
    print(json.dumps(result, indent=2) if args.json else
          f"{spec.name} [{protocol.describe()}]: top-1 {100 * result['top1']:.2f}  "
          f"top-5 {100 * result['top5']:.2f}  mean class accuracy "
          f"{100 * result['mean_class_accuracy']:.2f}  ({result['videos']} videos)")
    return 0


# ------------------------------------------------------------------------------------ eval


def _require(args: argparse.Namespace, what: str, options: list[str]) -> None:
    from actionzoo.errors import UsageError

    missing = [o for o in options if getattr(args, o.lstrip("-").replace("-", "_")) is None]
    if missing:
        raise UsageError(f"{what} needs {', '.join(missing)}")


def _cmd_eval(args: argparse.Namespace) -> int:
    from actionzoo.errors import UsageError
    from actionzoo.evaluation.recognition import evaluate_records, write_predictions
    from actionzoo.zoo.registry import get_model_spec
    from actionzoo.evaluation.store import ResultsStore

    spec = get_model_spec(args.model)
    protocol = spec.protocol(args.protocol)
    if args.engine.startswith("pytorch") and args.model_file:
        raise UsageError("--model-file is for the onnxruntime/openvino engines; "
                         "the pytorch engine takes --checkpoint")
    _random_weights_note(args)
    if spec.task == "detection":
        return _eval_ava(args, spec)
    _require(args, f"evaluating {spec.name}", ["--ann", "--data-root"])
    annotations = _read_records(args, None)
    engine = _engine_for(args)
    config = {
        "model": spec.name, "protocol": protocol.describe(),
        "annotation": str(Path(args.ann).resolve()), "data_root": str(Path(args.data_root).resolve()),
        "engine": engine.name, "precision": engine.precision,
        "weights": str(args.checkpoint or args.model_file or "random"),
    }
    with ResultsStore(args.results, config, resume=args.resume) as store:
        report = evaluate_records(annotations.records, model_name=spec.name, protocol=protocol,
                                  engine=engine, store=store, batch_size=args.batch_size,
                                  workers=args.workers, progress=not args.no_progress)
        print(report.render_text())
        if args.json:
            import json

            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if args.markdown:
            Path(args.markdown).write_text(report.render_markdown())
        if args.predictions:
            write_predictions(store, args.predictions, annotations.class_names)
    return 130 if report.interrupted else 0


def _eval_ava(args: argparse.Namespace, spec) -> int:
    import json

    from actionzoo.ava.evaluate import evaluate_ava

    _require(args, f"evaluating {spec.name}",
             ["--frames-dir", "--frame-list", "--boxes", "--gt", "--labelmap"])
    engine = _engine_for(args)
    out_csv = args.out_csv or str(Path(args.results).with_suffix(".detections.csv"))
    report = evaluate_ava(
        args.frames_dir, args.frame_list, args.boxes, args.gt, args.labelmap, args.excluded,
        engine=engine, results=args.results, out_csv=out_csv, batch_size=args.batch_size,
        workers=args.workers, resume=args.resume, model_name=spec.name, protocol=args.protocol,
        variant=args.variant, weights=str(args.checkpoint or args.model_file or "random"),
        progress=not args.no_progress,
    )
    print(report.render_text())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(report.render_markdown())
    return 130 if report.interrupted else 0


# ---------------------------------------------------------------------------------- detect


def _cmd_detect(args: argparse.Namespace) -> int:
    from actionzoo.ava.detect import detect

    args.model = args.model or "slowfast_r50_ava"
    _random_weights_note(args)
    engine = _engine_for(args)
    report = detect(args.video, args.proposals, args.out, engine=engine, labelmap=args.labelmap,
                    video_id=args.video_id, start_second=args.start_second, fps=args.fps,
                    threshold=args.threshold, top_k=args.top_k, batch_size=args.batch_size)
    print(report.render_text())
    return 0


# ----------------------------------------------------------------------------------- bench


def _cmd_bench(args: argparse.Namespace) -> int:
    from actionzoo.bench.throughput import bench_engine, plot_rows, render_rows, write_rows
    from actionzoo.export.onnx import example_inputs
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = spec.protocol(args.protocol)
    rows = []
    for name in args.engine.split(","):
        engine = _engine_for(args, name.strip())
        rows += bench_engine(
            engine, spec.name,
            lambda b: example_inputs(protocol, b, boxes_per_clip=args.boxes_per_clip),
            args.batch_sizes, warmup=args.warmup, min_seconds=args.min_seconds)
    per_clip = (f"{args.boxes_per_clip} boxes per clip" if spec.task == "detection"
                else "one view per clip")
    print(f"{spec.name}, {protocol.describe()} — model only, {per_clip}")
    print(render_rows(rows))
    prefix = Path(args.out) if args.out else None
    if prefix:
        write_rows(rows, prefix.with_suffix(".csv"))
        write_rows(rows, prefix.with_suffix(".json"))
        plot_rows(rows, prefix.with_suffix(".png"), title=f"{spec.name} ({protocol.summary})")
        print(f"wrote {prefix.with_suffix('.csv')}, .json and .png")
    if args.e2e:
        if spec.task == "detection":
            from actionzoo.errors import UsageError

            raise UsageError("--e2e runs recognizers over a folder of videos; for "
                             f"{spec.name} run `actionzoo eval` on an AVA-layout folder")
        _bench_e2e(args, spec, protocol)
    return 0


def _bench_e2e(args: argparse.Namespace, spec, protocol) -> None:
    import tempfile

    from actionzoo.data.annotations import VideoRecord
    from actionzoo.evaluation.recognition import evaluate_records
    from actionzoo.evaluation.store import ResultsStore

    folder = Path(args.e2e)
    videos = sorted(p for p in folder.rglob("*") if p.is_file()
                    and p.suffix.lower() in {".mp4", ".avi", ".webm", ".mkv", ".mov"})
    if not videos:
        from actionzoo.errors import UsageError

        raise UsageError(f"{folder}: no video files (.mp4 .avi .webm .mkv .mov) found")
    records = [VideoRecord(path=p, label=0, video_id=str(p.relative_to(folder))) for p in videos]
    engine = _engine_for(args, args.engine.split(",")[0].strip())
    with tempfile.TemporaryDirectory() as tmp, \
            ResultsStore(Path(tmp) / "bench.db", {"bench": True}, resume=False) as store:
        report = evaluate_records(records, model_name=spec.name, protocol=protocol, engine=engine,
                                  store=store, batch_size=args.batch_sizes[-1],
                                  workers=args.workers, progress=True)
    t = report.times
    rate = report.scored_this_run / t.wall if t.wall else 0.0
    print(f"end to end on {len(videos)} videos with {engine.describe()}, batch "
          f"{args.batch_sizes[-1]}, {args.workers} workers: {rate:.2f} videos/s")
    print(f"  wall {t.wall:.1f} s = model {t.model:.1f} + waiting for data {t.waiting:.1f} + other "
          f"{t.other:.1f}; workers spent decode {t.decode:.1f} s, preprocess {t.preprocess:.1f} s")
    if report.failed:
        print(f"  {len(report.failed)} videos failed: " + "; ".join(f"{v}: {r}" for v, r in report.failed))


# --------------------------------------------------------------------------------- ava-map


def _cmd_ava_map(args: argparse.Namespace) -> int:
    import json
    import math

    from actionzoo.ava.metric import ava_frame_map

    result = ava_frame_map(args.groundtruth, args.detections, args.labelmap, args.excluded,
                           variant=args.variant, mini_val=args.mini_val)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"frame-mAP@0.5IoU ({args.variant}{', mini-val' if args.mini_val else ''}): "
          f"{100 * result['mAP']:.2f}")
    if args.per_class:
        from actionzoo.ava.annotations import read_labelmap

        names = read_labelmap(args.labelmap)
        for class_id, ap in result["per_class"].items():
            shown = "no ground truth" if ap is None or math.isnan(ap) else f"{100 * ap:6.2f}"
            print(f"  {class_id:>3}  {shown}  {names.get(class_id, '')}")
    return 0


# ------------------------------------------------------------------------------------ demo


def _cmd_demo(args: argparse.Namespace) -> int:
    from actionzoo.demo import run_demo

    return run_demo(Path(args.out), model_name=args.model, checkpoint=args.checkpoint,
                    trusted=args.trust_checkpoint)


# ------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actionzoo",
        description="Video action-recognition models from official checkpoint to measured deployment.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="the model registry: protocols, accuracy, params, GFLOPs")
    p.add_argument("-v", "--verbose", action="store_true", help="every field of every entry")
    p.set_defaults(handler=_cmd_models)

    p = sub.add_parser("inspect", help="a checkpoint's container and which model it fits")
    p.add_argument("checkpoint", help="a .pth, .pyth or Caffe2 .pkl file")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle arbitrary objects (only for files from a trusted source)")
    p.set_defaults(handler=_cmd_inspect)

    p = sub.add_parser("preprocess", help="write one .npy model input per video (the guides' bin files)")
    p.add_argument("model")
    _add_data_options(p)
    p.add_argument("--protocol", default="official")
    p.add_argument("--out", required=True, help="output folder (resumable: finished videos are skipped)")
    p.add_argument("--workers", type=_non_negative, default=2)
    p.set_defaults(handler=_cmd_preprocess)

    def model_weights(p: argparse.ArgumentParser) -> None:
        p.add_argument("--checkpoint", help="official checkpoint (.pth/.pyth/.pkl); random weights if omitted")
        p.add_argument("--trust-checkpoint", action="store_true",
                       help="unpickle arbitrary objects (only for files from a trusted source)")

    def verify_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--num-random", type=_positive, default=2, help="random batches of 2 views")
        p.add_argument("--inputs", help="also compare on preprocessed videos (a `preprocess --out` folder)")
        p.add_argument("--max-videos", type=_positive, default=4)
        p.add_argument("--openvino", action="store_true", help="verify OpenVINO (f32) too")
        p.add_argument("--threads", type=_positive)
        p.add_argument("--report", help="write the verification report as JSON")

    p = sub.add_parser("export", help="export to ONNX (dynamic batch) and verify against PyTorch")
    p.add_argument("model")
    model_weights(p)
    p.add_argument("-o", "--output", required=True, help="model.onnx to write")
    p.add_argument("--protocol", default="official", help="whose view shape to export for")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--simplify", action="store_true", help="simplify the graph with onnxslim")
    p.add_argument("--no-verify", action="store_true")
    verify_options(p)
    p.set_defaults(handler=_cmd_export)

    p = sub.add_parser("verify", help="compare an exported model with PyTorch: PASS/FAIL")
    p.add_argument("model")
    model_weights(p)
    p.add_argument("--model-file", required=True, help="the exported .onnx")
    p.add_argument("--protocol", default="official")
    verify_options(p)
    p.set_defaults(handler=_cmd_verify)

    from actionzoo.engines.all import ENGINE_NAMES

    def engine_options(p: argparse.ArgumentParser, default: str = "onnxruntime") -> None:
        p.add_argument("--engine", default=default, help=f"one of {', '.join(ENGINE_NAMES)}")
        p.add_argument("--model-file", help="exported .onnx (onnxruntime and openvino engines)")
        p.add_argument("--precision", default="fp32",
                       help="fp32 (default); bf16/fp16 are opt-in for openvino and printed in reports")
        p.add_argument("--threads", type=_positive, help="engine threads (default: all cores)")

    p = sub.add_parser("infer", help="run an engine over preprocessed inputs; per-input scores")
    p.add_argument("--model", help="model name (pytorch engine; default: from the inputs' meta.json)")
    model_weights(p)
    engine_options(p)
    p.add_argument("--inputs", required=True, help="a `preprocess --out` folder")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=_positive, default=1)
    p.set_defaults(handler=_cmd_infer)

    p = sub.add_parser("postprocess", help="accuracy from `infer` outputs")
    p.add_argument("--scores", required=True, help="an `infer --out` folder")
    p.add_argument("--protocol", help="score combination (default: the protocol of preprocessing)")
    p.add_argument("--model", help="default: from the scores' meta.json")
    p.add_argument("--ann", help="take labels from this annotation file instead of the index")
    p.add_argument("--data-root", default=".")
    p.add_argument("--ann-format", default="auto")
    p.add_argument("--labels")
    p.add_argument("--class-names")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_cmd_postprocess)

    p = sub.add_parser("eval", help="fused streaming evaluation into a resumable results database")
    p.add_argument("model")
    model_weights(p)
    engine_options(p, default="pytorch")
    recognition = p.add_argument_group("recognizers")
    recognition.add_argument("--ann", help="annotation file (any supported format)")
    recognition.add_argument("--data-root", help="folder the annotation's paths are relative to")
    recognition.add_argument("--ann-format", default="auto",
                             help="videos, rawframes, pyslowfast, kinetics_csv, ucf101, sthv2")
    recognition.add_argument("--labels", help="classInd.txt (UCF-101) or labels.json (Sth-V2)")
    recognition.add_argument("--class-names", help="file with one class name per line")
    detection = p.add_argument_group("AVA detector (slowfast_r50_ava)")
    detection.add_argument("--frames-dir", help="frames/{video_id}/{video_id}_{n:06d}.jpg")
    detection.add_argument("--frame-list", help="frame_lists/val.csv")
    detection.add_argument("--boxes", help="person boxes CSV or proposals .pkl (score >= 0.8 kept)")
    detection.add_argument("--gt", help="ava_val_v2.2.csv")
    detection.add_argument("--labelmap", help="ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    detection.add_argument("--excluded", help="ava_val_excluded_timestamps_v2.2.csv")
    detection.add_argument("--out-csv", help="detections CSV (default: next to --results)")
    detection.add_argument("--variant", choices=["official", "pyslowfast"], default="official")
    p.add_argument("--protocol", default="official")
    p.add_argument("--batch-size", type=_positive, default=8, help="views per engine call")
    p.add_argument("--workers", type=_non_negative, default=2, help="decode worker processes")
    p.add_argument("--results", required=True, help="SQLite file the results go to as videos finish")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--json", help="write the report as JSON")
    p.add_argument("--markdown", help="write the report as Markdown")
    p.add_argument("--predictions", help="write per-video top-5 predictions as CSV")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_cmd_eval)

    p = sub.add_parser("detect", help="AVA actions on one video from your person boxes, drawn on keyframes")
    p.add_argument("video")
    p.add_argument("--proposals", required=True, help="person boxes CSV or proposals .pkl")
    p.add_argument("--out", required=True, help="folder for the images and detections.csv")
    p.add_argument("--model", default="slowfast_r50_ava")
    model_weights(p)
    engine_options(p, default="pytorch")
    p.add_argument("--labelmap", help="label map pbtxt (class names; only its classes are drawn)")
    p.add_argument("--video-id", help="which video of the proposals file this is")
    p.add_argument("--start-second", type=float, default=0.0,
                   help="second of the video's first frame (900 for AVA 15-minute cuts)")
    p.add_argument("--fps", help="frame rate (default: the stream's average rate)")
    p.add_argument("--threshold", type=float, default=0.5, help="draw classes scoring at least this")
    p.add_argument("--top-k", type=_positive, default=5)
    p.add_argument("--batch-size", type=_positive, default=1)
    p.set_defaults(handler=_cmd_detect)

    p = sub.add_parser("bench", help="model-only throughput per batch size; --e2e for the whole pipeline")
    p.add_argument("model")
    model_weights(p)
    engine_options(p, default="pytorch")
    p.add_argument("--protocol", default="official")
    p.add_argument("--batch-sizes", type=_batch_sizes, default=[1, 2, 4, 8, 16])
    p.add_argument("--warmup", type=_non_negative, default=2)
    p.add_argument("--min-seconds", type=float, default=2.0)
    p.add_argument("--out", help="write OUT.csv, OUT.json and OUT.png")
    p.add_argument("--boxes-per-clip", type=_positive, default=4,
                   help="detection models: person boxes per clip (fixed across the sweep)")
    p.add_argument("--e2e", help="also run the full pipeline over the videos in this folder")
    p.add_argument("--workers", type=_non_negative, default=2)
    p.set_defaults(handler=_cmd_bench)

    p = sub.add_parser("ava-map", help="AVA frame-mAP@0.5 over the official CSV files")
    p.add_argument("--groundtruth", required=True, help="ava_val_v2.2.csv")
    p.add_argument("--detections", required=True, help="detections in the official CSV format")
    p.add_argument("--labelmap", required=True, help="ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    p.add_argument("--excluded", help="ava_val_excluded_timestamps_v2.2.csv")
    p.add_argument("--variant", choices=["official", "pyslowfast"], default="official",
                   help="official ActivityNet 2019 evaluator, or PySlowFast's in-training variant")
    p.add_argument("--mini-val", action="store_true", help="only keyframes whose second %% 4 == 0")
    p.add_argument("--per-class", action="store_true", help="print every class's AP")
    p.add_argument("--json", help="write the full result as JSON")
    p.set_defaults(handler=_cmd_ava_map)

    p = sub.add_parser("demo", help="synthetic videos -> export -> eval (ONNX Runtime, PyTorch) -> bench")
    p.add_argument("--model", default="x3d_s_k400")
    p.add_argument("--checkpoint", help="real weights; random weights otherwise")
    p.add_argument("--trust-checkpoint", action="store_true")
    p.add_argument("--out", default="actionzoo-demo", help="working folder")
    p.set_defaults(handler=_cmd_demo)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ActionZooError as error:
        print(f"actionzoo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("actionzoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
