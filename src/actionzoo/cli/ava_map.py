"""``actionzoo ava-map``: the official AVA frame-mAP@0.5 over the official CSV files."""

from __future__ import annotations

import argparse
import json
import math

from actionzoo.ava.variant import AvaVariant
from actionzoo.fileio.atomic import write_text_atomic

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ava-map", help="AVA frame-mAP@0.5 over the official CSV files")
    p.add_argument("--groundtruth", "--gt", required=True, help="ava_val_v2.2.csv")
    p.add_argument("--detections", required=True, help="detections in the official CSV format")
    p.add_argument("--labelmap", required=True, help="ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    p.add_argument("--excluded", help="ava_val_excluded_timestamps_v2.2.csv")
    p.add_argument("--variant", choices=[v.value for v in AvaVariant], default="official",
                   help="official ActivityNet 2019 evaluator, or PySlowFast's in-training variant")
    p.add_argument("--mini-val", action="store_true", help="only keyframes whose second %% 4 == 0")
    p.add_argument("--per-class", action="store_true", help="print every class's AP")
    p.add_argument("--json", help="write the full result as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from actionzoo.ava.annotations import read_labelmap
    from actionzoo.ava.metric import ava_frame_map

    result = ava_frame_map(args.groundtruth, args.detections, args.labelmap, args.excluded,
                           variant=args.variant, mini_val=args.mini_val)
    if args.json:
        write_text_atomic(args.json, json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    print(f"frame-mAP@0.5IoU ({args.variant}{', mini-val' if args.mini_val else ''}): "
          f"{100 * result['mAP']:.2f}")
    if args.per_class:
        names = read_labelmap(args.labelmap)
        for class_id, ap in result["per_class"].items():
            shown = "no ground truth" if ap is None or math.isnan(ap) else f"{100 * ap:6.2f}"
            print(f"  {class_id:>3}  {shown}  {names.get(class_id, '')}")
    return 0
