"""``actionzoo infer`` and ``actionzoo postprocess``: the vendor guides' staged flow after
``preprocess`` — an engine over ``.npy`` inputs, then accuracy from the per-view outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from actionzoo.cli.options import (
    add_engine,
    add_weights,
    build_engine,
    engine_names,
    positive,
    read_records,
)
from actionzoo.errors import UsageError
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.fileio.display import escape

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infer", help="run an engine over preprocessed inputs; per-input scores")
    p.add_argument("--model", help="model name (pytorch engine; default: from the inputs' meta.json)")
    add_weights(p)
    add_engine(p, drift=False, upload=False)
    p.add_argument("--inputs", required=True, help="a `preprocess --out` folder")
    p.add_argument("--out", required=True)
    p.add_argument("--batch-size", type=positive, default=1)
    p.set_defaults(handler=run_infer)

    p = sub.add_parser("postprocess", help="accuracy from `infer` outputs")
    p.add_argument("--scores", required=True, help="an `infer --out` folder")
    p.add_argument("--protocol", help="score combination (default: the protocol of preprocessing)")
    p.add_argument("--model", help="default: from the scores' meta.json")
    p.add_argument("--ann", help="take labels from this annotation file instead of the index")
    p.add_argument("--data-root", default=".")
    p.add_argument("--ann-format", default="auto")
    p.add_argument("--labels")
    p.add_argument("--class-names")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the result as JSON to PATH, as eval and predict do (no PATH or -: "
                        "print it instead of the summary line)")
    p.set_defaults(handler=run_postprocess)


def _meta(folder: str) -> dict:
    path = Path(folder) / "meta.json"
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > 1 << 20:
            raise ValueError("larger than 1 MiB")
        meta = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError, RecursionError) as error:
        raise UsageError(f"{path}: not a meta.json that preprocess wrote "
                         f"({escape(str(error) or type(error).__name__, 120)})") from None
    if not isinstance(meta, dict) or not all(isinstance(v, (str, int, float, bool, type(None), list, dict))
                                             for v in meta.values()):
        raise UsageError(f"{path}: not a meta.json that preprocess wrote (expected an object)")
    return meta


def run_infer(args: argparse.Namespace) -> int:
    from actionzoo.engines.registry import engine_kind
    from actionzoo.evaluation.staged import infer_directory

    meta = _meta(args.inputs)
    kind = engine_kind(engine_names(args)[0])
    if kind.needs_model and not args.model:
        args.model = meta.get("model")
        if not args.model:
            raise UsageError(f"the {kind.name} engine needs --model (and --checkpoint)")
    engine = build_engine(args)
    written = infer_directory(engine, args.inputs, args.out, batch_size=args.batch_size)
    if meta:
        write_text_atomic(Path(args.out) / "meta.json",
                          json.dumps({**meta, "engine": engine.info.describe()}, indent=2) + "\n")
    print(f"wrote outputs for {written} inputs to {args.out} with {engine.info.describe()}")
    return 0


def run_postprocess(args: argparse.Namespace) -> int:
    from actionzoo.evaluation.staged import postprocess
    from actionzoo.zoo.registry import get_model_spec

    meta = _meta(args.scores)
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
        labels = {r.video_id: r.label for r in read_records(args).records}
    result = postprocess(args.scores, protocol, labels=labels)
    if args.json == "-":
        print(json.dumps(result, indent=2))
        return 0
    if args.json:
        write_text_atomic(args.json, json.dumps(result, indent=2) + "\n")
    print(f"{spec.name} [{protocol.describe()}]: top-1 {100 * result['top1']:.2f}  "
          f"top-5 {100 * result['top5']:.2f}  mean class accuracy "
          f"{100 * result['mean_class_accuracy']:.2f}  ({result['videos']} videos)")
    return 0
