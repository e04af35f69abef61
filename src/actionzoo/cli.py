"""The ``actionzoo`` command: a thin layer over the Python API.

Each subcommand parses its options, calls one API function and prints the result. Errors a user can
cause arrive as :class:`~actionzoo.errors.ActionZooError` and are printed as one line with exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import ActionZooError

def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- models


def _cmd_models(args: argparse.Namespace) -> int:
    from .registry import MODELS

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
                print(f"  accuracy    top-1 {acc.top1:.2f} top-5 {top5} ({acc.protocol}; {acc.data}; "
                      f"{acc.source})")
            print()
        return 0
    rows = []
    for spec in MODELS.values():
        for acc in spec.accuracy:
            top5 = f"{acc.top5:.2f}" if acc.top5 is not None else "–"
            rows.append([
                spec.name if not rows or rows[-1][0] != spec.name else "",
                acc.protocol,
                f"{acc.top1:.2f}",
                top5,
                f"{spec.num_params / 1e6:.1f}M",
                f"{spec.gflops:.1f}",
            ])
    print(_table(rows, ["model", "protocol (views, score)", "top-1", "top-5", "params", "GFLOPs/view"]))
    return 0


# --------------------------------------------------------------------------------- inspect


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .checkpoint_info import inspect_checkpoint

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
