"""``actionzoo bench``: model-only throughput and latency per batch size; ``--e2e`` times the whole
pipeline (decode workers, views, engine) over a folder of videos."""

from __future__ import annotations

import argparse

from actionzoo.cli.options import (
    add_engine,
    add_progress,
    add_protocol,
    add_weights,
    batch_sizes,
    engine_names,
    engine_options,
    non_negative,
    positive,
    protocol_for,
)

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="model-only throughput per batch size; --e2e for the whole pipeline")
    p.add_argument("model")
    add_weights(p)
    add_engine(p, default="pytorch")
    add_progress(p)
    add_protocol(p)
    p.add_argument("--batch-sizes", type=batch_sizes, default=[1, 2, 4, 8, 16])
    p.add_argument("--warmup", type=non_negative, default=2)
    p.add_argument("--min-seconds", type=float, default=2.0)
    p.add_argument("--out", help="write OUT.csv, OUT.json and OUT.png")
    p.add_argument("--boxes-per-clip", type=positive, default=4,
                   help="detection models: person boxes per clip (fixed across the sweep)")
    p.add_argument("--e2e", help="also run the full pipeline over the videos in this folder")
    p.add_argument("--workers", type=non_negative,
                   help="--e2e decode worker processes (default: the fewest that keep the engine "
                        "fed, measured here; every core with --device cuda)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.bench import bench_model, e2e
    from actionzoo.bench.e2e import check_e2e
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(args.model)
    protocol = protocol_for(args, spec)
    if args.e2e:
        check_e2e(spec, protocol)  # before the sweep, not after it
    engines = [engine_options(args, name) for name in engine_names(args)]
    result = bench_model(spec, engines, protocol=protocol, batch_sizes=args.batch_sizes,
                         warmup=args.warmup, min_seconds=args.min_seconds,
                         boxes_per_clip=args.boxes_per_clip, reference=args.reference)
    for note in result.notes:
        print(note)
    print(result.render())
    if args.out:
        csv_path = result.write(args.out)[0]
        print(f"wrote {csv_path}, .json and .png")
    if args.e2e:
        print(e2e(spec, args.e2e, engine=engines[0], protocol=protocol, batch_size=args.batch_sizes[-1],
                  workers=args.workers, progress=not args.no_progress).render())
    return 0
