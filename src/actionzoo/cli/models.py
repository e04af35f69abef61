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
    return lines + _recipe(spec)


def _recipe(spec) -> list[str]:
    """The training recipe, as ``actionzoo train`` applies it before any flag."""
    r = spec.recipe
    if r is None:
        return ["  recipe      none"]
    o, s = r.optimizer, r.schedule
    shape = "cosine" if s.policy == "cosine" else f"steps at {list(s.steps)} x {list(s.step_factors)}"
    warm = f", warm-up {s.warmup_epochs:g} epochs" if s.warmup_epochs else ""
    return [
        f"  recipe      {r.source}",
        f"  starts from {r.starts_from or 'scratch (the reference initialisation)'}",
        f"  train data  {r.pipeline.describe()}",
        f"  batch       {r.batch_size} clips per step (global); SGD lr {o.lr:g} for batch "
        f"{o.reference_batch}, momentum {o.momentum}, nesterov {o.nesterov}, weight decay "
        f"{o.weight_decay:g} ({o.groups} groups), grad clip {o.grad_clip or 'none'}",
        f"  schedule    {shape} over {s.epochs} epochs ({s.style}){warm}",
        f"  regularise  dropout {r.dropout:g}, loss {r.loss}, sync BN {'on' if r.sync_bn else 'off'}, "
        f"precise BN {r.precise_bn_batches or 'off'}, BN batch " + (
            f"{r.bn_batch} {'over all devices' if r.sync_bn else 'per device'}" if r.bn_batch
            else "unknown"),
        f"  validation  every {r.val_every} epochs: {r.val_protocol.describe()}"
        + (f" (--full-val: {r.full_val_protocol.name})" if r.full_val_protocol else ""),
        f"  writes      {r.writes} checkpoints, epoch_N every {r.checkpoint_every}",
    ]


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
