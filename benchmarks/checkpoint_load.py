"""Checkpoint loading time through the restricted readers: a PySlowFast SlowFast R50 ``.pyth``
(zip torch file) and a Caffe2 SlowFast R50 ``.pkl`` (Python-2 style protocol-2 pickle), random
weights with the real shapes.

    python benchmarks/checkpoint_load.py make DIR            # write the two files once
    python benchmarks/checkpoint_load.py time DIR [--reps 7]  # median read_checkpoint seconds
                                                              # (wall and CPU)

To compare two source trees side by side, alternate ``time`` runs of each tree on the same files
(``PYTHONPATH=<tree>/src``), as docs/security.md shows.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import time
from pathlib import Path

import numpy as np
import torch

BLOB_MAP = Path(__file__).resolve().parents[1] / "tests" / "data" / "keys" / "slowfast_r50_caffe2_blob_map.txt"


def make(folder: Path) -> None:
    from actionzoo.zoo.registry import expected_shapes, get_model_spec

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=gen) if s else torch.tensor(0)
             for k, s in expected_shapes(get_model_spec("slowfast_r50_8x8_k400_pyslowfast")).items()}
    torch.save({"epoch": 196, "model_state": state, "optimizer_state": {"state": {}},
                "cfg": "MODEL:\n  ARCH: slowfast\n"}, folder / "SLOWFAST_8x8_R50.pyth")
    rng = np.random.default_rng(0)
    blobs = {}
    for line in BLOB_MAP.read_text().splitlines():
        if line and not line.startswith("#"):
            blob, _, shape = line.split()
            blobs[blob] = rng.standard_normal([int(d) for d in shape.split(",")]).astype(np.float32)
    blobs["model_iter"] = np.array([46000], np.int64)
    with (folder / "SLOWFAST_8x8_R50.pkl").open("wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)


def time_reads(folder: Path, reps: int) -> dict[str, float]:
    from actionzoo.checkpoint import read_checkpoint

    result = {}
    for name in ("SLOWFAST_8x8_R50.pyth", "SLOWFAST_8x8_R50.pkl"):
        path = folder / name
        read_checkpoint(path)  # warm the page cache and imports
        wall, cpu = [], []
        for _ in range(reps):
            start, start_cpu = time.perf_counter(), time.process_time()
            read_checkpoint(path)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        # CPU time is what the reader costs; wall time also counts waiting on a shared machine.
        result[name] = {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["make", "time"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    if args.action == "make":
        make(args.folder)
    else:
        torch.set_num_threads(1)
        print(json.dumps(time_reads(args.folder, args.reps)))


if __name__ == "__main__":
    main()
