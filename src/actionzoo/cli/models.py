"""``actionzoo models``: the registry, each accuracy with the protocol it was measured under."""

from __future__ import annotations

import argparse

from actionzoo.cli.options import table

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the model registry: protocols, accuracy, params, GMACs")
    p.add_argument("-v", "--verbose", action="store_true", help="every field of every entry")
    p.set_defaults(handler=run)


def _verbose(spec) -> list[str]:
    c, t, h, w = spec.clip_shape
    lines = [
        f"{spec.name} — {spec.title}",
        f"  reference   {spec.reference}",
        f"  checkpoint  {', '.join(map(str, spec.checkpoint_formats))}",
        f"  input       (N, {c}, {t}, {h}, {w}) float32; output {spec.output} (N, {spec.num_classes})",
        f"  normalise   {spec.normalization.describe()}",
        f"  cost        {spec.num_params / 1e6:.2f} M params, {spec.gmacs:.1f} GMACs ({spec.gflop:.1f} GFLOP)/view",
    ]
    lines += [f"  protocol    {p.describe()} [{p.source}]" for p in spec.protocols.values()]
    for acc in spec.accuracy:
        top5 = f"{acc.top5:.2f}" if acc.top5 is not None else "–"
        lines.append(f"  accuracy    {acc.metric} {acc.top1:.2f} top-5 {top5} ({acc.protocol}; "
                     f"{acc.data}; {acc.source})")
    return lines


def run(args: argparse.Namespace) -> int:
    from actionzoo.zoo.registry import MODELS

    if args.verbose:
        for spec in MODELS.values():
            print("\n".join(_verbose(spec)) + "\n")
        return 0
    rows = []
    for spec in MODELS.values():
        for i, acc in enumerate(spec.accuracy):
            top5 = f"{acc.top5:.2f}" if acc.top5 is not None else "–"
            first = f"{acc.top1:.2f}" if acc.metric == "top-1" else f"{acc.metric} {acc.top1:.2f}"
            rows.append([spec.name if i == 0 else "", acc.protocol, first, top5,
                         f"{spec.num_params / 1e6:.1f}M", f"{spec.gmacs:.1f}"])
    print(table(rows, ["model", "protocol (views, score)", "top-1", "top-5", "params", "GMACs/view"]))
    return 0
