"""``actionzoo infer`` and ``actionzoo postprocess``: the vendor guides' staged flow after
``preprocess`` — an engine over ``.npy`` inputs, then accuracy from the per-view outputs."""

from __future__ import annotations

import argparse
import json

from actionzoo.cli.options import add_ann_format, add_engine, add_weights, engine_options, positive
from actionzoo.fileio.atomic import write_text_atomic

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
    add_ann_format(p)
    p.add_argument("--labels")
    p.add_argument("--class-names")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write the result as JSON to PATH, as eval and predict do (no PATH or -: "
                        "print it instead of the summary line)")
    p.set_defaults(handler=run_postprocess)


def run_infer(args: argparse.Namespace) -> int:
    from actionzoo.evaluation.staged import infer_folder

    run = infer_folder(args.inputs, args.out, engine=engine_options(args), model=args.model,
                       batch_size=args.batch_size)
    print(f"wrote outputs for {run.written} inputs to {args.out} with {run.engine}")
    return 0


def run_postprocess(args: argparse.Namespace) -> int:
    from actionzoo.evaluation.staged import postprocess_folder

    accuracy = postprocess_folder(args.scores, model=args.model, protocol=args.protocol,
                                  ann=args.ann, data_root=args.data_root, ann_format=args.ann_format,
                                  labels=args.labels, class_names=args.class_names)
    if args.json == "-":
        print(json.dumps(accuracy.result, indent=2))
        return 0
    if args.json:
        write_text_atomic(args.json, json.dumps(accuracy.result, indent=2) + "\n")
    print(accuracy.summary())
    return 0
