"""``actionzoo prepare``: raw videos -> frames, split files and AVA frame lists, as the guides do it.

``frames`` (mmaction2 ``build_rawframes.py --use-opencv``), ``filelist`` (``build_file_list.py``),
``ava`` (the SlowFast-AVA guide's two ffmpeg commands and PySlowFast's frame lists). The work is in
:mod:`actionzoo.preparation`; this module turns options into its arguments and prints the summary.
"""

from __future__ import annotations

import argparse
import sys

from actionzoo.cli.options import non_negative, positive
from actionzoo.preparation.filelists import DATASETS, FORMATS

__all__ = ["register"]


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=non_negative, default=2,
                   help="worker processes, one video each (0: in this process)")
    p.add_argument("--resume", action="store_true",
                   help="skip complete videos (a plain rerun does too: a folder that exists is complete)")
    p.add_argument("--shard", metavar="K/N",
                   help="do shard K (0-based) of N; default: torchrun's RANK/WORLD_SIZE when set")
    p.add_argument("--dry-run", action="store_true",
                   help="print the videos, estimated frames and disk space; write nothing")
    p.add_argument("--no-progress", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="raw videos -> frames, split files, AVA frame lists (as the guides do)")
    steps = p.add_subparsers(dest="step", required=True, metavar="STEP")

    f = steps.add_parser("frames", help="frames as mmaction2's build_rawframes.py --use-opencv writes them")
    f.add_argument("src")
    f.add_argument("out")
    f.add_argument("--level", type=int, choices=(1, 2), default=2)
    f.add_argument("--ext", default="avi", help="video extension (avi, mp4, webm, ...)")
    f.add_argument("--new-short", type=positive, help="short side N, long side int()-truncated")
    f.add_argument("--new-width", type=positive)
    f.add_argument("--new-height", type=positive)
    _add_run_options(f)
    f.set_defaults(handler=run_frames)

    fl = steps.add_parser("filelist", help="split files as mmaction2's build_file_list.py writes them")
    fl.add_argument("dataset", choices=DATASETS)
    fl.add_argument("src", help="the frame (or video) root")
    fl.add_argument("--annotations", required=True, metavar="DIR")
    fl.add_argument("--format", required=True, choices=FORMATS)
    fl.add_argument("--level", type=int, choices=(1, 2), default=2)
    fl.add_argument("--out-dir", required=True, metavar="DIR")
    fl.add_argument("--shuffle", action="store_true")
    fl.add_argument("--seed", type=int, default=0, help="seed of --shuffle (the reference's is unseeded)")
    fl.set_defaults(handler=run_filelist)

    a = steps.add_parser("ava", help="AVA frames as the guide's ffmpeg cut + -r 30 -q:v 1 extraction")
    a.add_argument("videos")
    a.add_argument("out")
    a.add_argument("--start", type=float, default=900.0, help="cut start in seconds (ffmpeg -ss)")
    a.add_argument("--duration", type=float, default=901.0, help="cut length in seconds (ffmpeg -t)")
    a.add_argument("--fps", type=positive, default=30, help="output frame rate (ffmpeg -r)")
    a.add_argument("--single-command", action="store_true",
                   help="frames of `ffmpeg -ss S -t D -i in -r 30` instead of the guide's cut file then "
                        "-r 30 (at 29.97 fps the repeated frame of each ~1000 falls elsewhere)")
    a.add_argument("--frame-lists", metavar="DIR", help="write PySlowFast's train.csv / val.csv here")
    a.add_argument("--train-gt", metavar="CSV", help="ava_train_v2.2.csv: its videos go in train.csv")
    a.add_argument("--val-gt", metavar="CSV", help="ava_val_v2.2.csv: its videos go in val.csv")
    _add_run_options(a)
    a.set_defaults(handler=run_ava)


def _finish(summary) -> int:
    for note in summary.notes:
        print(note)
    if summary.estimated_bytes is not None:  # a dry run: the note above is the whole answer
        return 0
    print(summary.line())
    if summary.failure_list is not None:
        print(f"{len(summary.failed)} failed videos listed in {summary.failure_list}", file=sys.stderr)
    return 0 if summary.ok else 1


def run_frames(args: argparse.Namespace) -> int:
    from actionzoo.preparation import prepare_frames

    summary = prepare_frames(args.src, args.out, level=args.level, ext=args.ext, new_short=args.new_short,
                             new_width=args.new_width, new_height=args.new_height, workers=args.workers,
                             shard=args.shard, dry_run=args.dry_run, progress=not args.no_progress)
    return _finish(summary)


def run_filelist(args: argparse.Namespace) -> int:
    from actionzoo.preparation import prepare_filelist

    report = prepare_filelist(args.dataset, args.src, annotations=args.annotations, out_dir=args.out_dir,
                              format=args.format, level=args.level, shuffle=args.shuffle, seed=args.seed)
    for line in report.lines():
        print(line)
    if report.shuffled_with_seed is not None:
        print(f"shuffled with seed {report.shuffled_with_seed} (reproducible; the reference's shuffle is not)")
    return 0


def run_ava(args: argparse.Namespace) -> int:
    from actionzoo.preparation import prepare_ava

    summary = prepare_ava(args.videos, args.out, start=args.start, duration=args.duration, fps=args.fps,
                          frame_lists=args.frame_lists, train_gt=args.train_gt, val_gt=args.val_gt,
                          workers=args.workers, shard=args.shard, dry_run=args.dry_run,
                          progress=not args.no_progress, single_command=args.single_command)
    return _finish(summary)
