"""``actionzoo inspect``: what a checkpoint file is and which registered model it fits."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="a checkpoint's container and which model it fits")
    p.add_argument("checkpoint", help="a .pth, .pyth or Caffe2 .pkl file")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="unpickle arbitrary objects (only for files from a trusted source)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.fileio.display import escape
    from actionzoo.zoo.inspect import inspect_checkpoint

    info = inspect_checkpoint(args.checkpoint, trusted=args.trust_checkpoint)
    print(f"file        {escape(str(info.path), 1000)}")
    print(f"format      {info.format}")
    print(f"keys        {info.num_keys} ({info.num_parameters:,} parameters)")
    if info.extras:
        print(f"also holds  {escape(', '.join(map(str, info.extras)), 300)}")
    if info.ignored:
        print(f"ignored     {len(info.ignored)} entries (optimizer state / bookkeeping)")
    for fit in info.fits:
        if fit.report.fits and fit.format_accepted:
            verdict = f"fits ({fit.num_classes} classes)"
        elif fit.report.fits:
            verdict = f"keys fit, but the registry does not accept {info.format} files for it"
        else:
            verdict = f"does not fit: {escape(fit.report.summary(), 600)}"
        print(f"{fit.model:<28}{verdict}")
    if not info.matching:
        print("no registered model fits this checkpoint")
        return 1
    return 0
