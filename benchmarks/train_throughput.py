"""Training throughput per model on this machine: clips/s at a small batch, with the data/compute split.

Each registry model trains for a few steps by its own recipe at its recipe's input size (X3D-S at
160, the SlowFasts at 224, R(2+1)D and TSM at 224, the AVA detector on full frames cropped to 224),
on synthetic videos (an AVA layout for the detector), one process, ``--workers 1``. The first step
is a warm-up and is not counted. Prints a Markdown table and writes JSON.

    python benchmarks/train_throughput.py [--steps 4] [--batch 2] [--amp bf16] [--device cpu] \
        [--models m1,m2] [--out docs/bench/train_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

import torch

from actionzoo.engines.throughput import machine_info
from actionzoo.errors import ActionZooError
from actionzoo.data.synthetic import write_synthetic_ava, write_synthetic_videos
from actionzoo.training import TrainConfig, train
from actionzoo.zoo.registry import get_model_spec, list_models


def _steps(work: Path) -> list[dict]:
    rows = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "train"]


def bench_model(name: str, root: Path, *, steps: int, batch: int, amp: str | None, device: str) -> dict:
    spec = get_model_spec(name)
    work = root / f"work-{name}-{amp or 'fp32'}"
    common = dict(epochs=1, batch_size=batch, workers=1, progress=False, amp=amp, device=device,
                  precise_bn_batches=0, checkpoint_every=10**6)
    if spec.task == "detection":
        ava = write_synthetic_ava(root / "ava", videos=2, seconds=range(902, 902 + steps * batch // 2),
                                  size=(240, 320))
        config = TrainConfig(name, work, frames_dir=ava.frames_dir, frame_list=ava.frame_list,
                             gt=ava.groundtruth, boxes=ava.boxes, **common)
    else:
        data = write_synthetic_videos(root / "videos", num_classes=2, videos_per_class=steps * batch // 2,
                                      num_frames=80, size=(240, 320))
        config = TrainConfig(name, work, ann=data.annotation, data_root=data.root, num_classes=2, **common)
    train(config)
    rows = _steps(work)[1:]  # the first step warms up
    compute = statistics.median(r["compute_s"] for r in rows)
    data_s = statistics.median(r["data_s"] for r in rows)
    step = statistics.median(r["compute_s"] + r["data_s"] for r in rows)
    return {"model": name, "batch": batch, "amp": amp or "fp32", "device": device,
            "steps_counted": len(rows), "clips_per_s": batch / step,
            "compute_s_per_step": compute, "data_wait_s_per_step": data_s,
            "seconds_per_clip": step / batch}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--amp", choices=["bf16", "fp16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default=",".join(list_models()))
    parser.add_argument("--out", default="docs/bench/train_cpu.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            try:
                results.append(bench_model(name, Path(tmp), steps=args.steps, batch=args.batch,
                                           amp=args.amp, device=args.device))
            except ActionZooError as error:  # e.g. a non-finite loss under --amp: a finding
                results.append({"model": name, "batch": args.batch, "amp": args.amp or "fp32",
                                "device": args.device, "failed": str(error)})
            print(json.dumps(results[-1]), flush=True)
    print("\n| model | batch | precision | clips/s | s per clip | compute s/step | data wait s/step |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in results:
        if "failed" in r:
            print(f"| {r['model']} | {r['batch']} | {r['amp']} | failed: {r['failed']} | | | |")
            continue
        print(f"| {r['model']} | {r['batch']} | {r['amp']} | {r['clips_per_s']:.2f} | "
              f"{r['seconds_per_clip']:.2f} | {r['compute_s_per_step']:.2f} | {r['data_wait_s_per_step']:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), "torch": torch.__version__,
                               "python": platform.python_version(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
