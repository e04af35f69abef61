"""``actionzoo demo``: the whole flow on synthetic videos, download-free."""

from __future__ import annotations

import argparse
from pathlib import Path

from actionzoo.cli.options import positive

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthetic videos -> train -> export -> eval (ONNX Runtime, PyTorch) -> bench")
    p.add_argument("--model", default="x3d_s_k400")
    p.add_argument("--checkpoint", help="start from these weights (fine-tuning) instead of the reference init")
    p.add_argument("--trust-checkpoint", action="store_true")
    p.add_argument("--out", default="actionzoo-demo", help="working folder")
    p.add_argument("--epochs", type=positive, default=6, help="training epochs (default 6)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.demo import run_demo

    return run_demo(Path(args.out), model_name=args.model, checkpoint=args.checkpoint,
                    trusted=args.trust_checkpoint, epochs=args.epochs)
