"""How much slower (or faster) torch's bf16 and fp16 autocast run than fp32 on this CPU, per layer kind.

The layers are those the registry's models are made of, at small shapes: a dense 3x3x3 Conv3d (the
probe :mod:`actionzoo.runtime.cpu_precision` decides by), a depthwise 3x3x3 Conv3d (X3D), a 3x3
Conv2d (TSM) and a Linear (the heads). Each is timed in fp32 and under autocast in one process,
interleaved, best of ``--rounds``. Also prints the CPU flags that carry native kernels and what
:func:`~actionzoo.runtime.cpu_precision.cpu_slowdown` measures.

    python benchmarks/cpu_reduced_precision.py [--threads 2] [--rounds 5] [--out docs/bench/cpu_precision.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from actionzoo.engines.throughput import machine_info
from actionzoo.runtime.cpu_precision import SLOWEST_USABLE, cpu_flags_for, cpu_slowdown
from actionzoo.runtime.timing import fastest_seconds

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def layers() -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    return {
        "Conv3d 16->16 3x3x3, (2,16,4,16,16)": (torch.nn.Conv3d(16, 16, 3, padding=1),
                                                torch.randn(2, 16, 4, 16, 16)),
        "Conv3d 64->64 3x3x3, (1,64,8,28,28)": (torch.nn.Conv3d(64, 64, 3, padding=1),
                                                torch.randn(1, 64, 8, 28, 28)),
        "depthwise Conv3d 48 3x3x3, (1,48,13,23,23)": (
            torch.nn.Conv3d(48, 48, 3, padding=1, groups=48), torch.randn(1, 48, 13, 23, 23)),
        "Conv2d 64->64 3x3, (8,64,28,28)": (torch.nn.Conv2d(64, 64, 3, padding=1),
                                            torch.randn(8, 64, 28, 28)),
        "Linear 2048->400, (32,2048)": (torch.nn.Linear(2048, 400), torch.randn(32, 2048)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with torch.inference_mode():
        for name, (layer, x) in layers().items():
            row = {"layer": name, "fp32_ms": 1000 * fastest_seconds(lambda: layer(x), args.rounds)}
            for precision, dtype in DTYPES.items():
                def reduced() -> None:
                    with torch.autocast("cpu", dtype=dtype):
                        layer(x)
                row[f"{precision}_ms"] = 1000 * fastest_seconds(reduced, args.rounds)
                row[f"{precision}_x"] = row[f"{precision}_ms"] / row["fp32_ms"]
            rows.append(row)
    probe = {p: cpu_slowdown(p) for p in DTYPES}
    flags = {p: list(cpu_flags_for(p)) for p in DTYPES}
    print(f"torch {torch.__version__}, {args.threads} threads; native-kernel flags: {flags}")
    print("| layer | fp32 ms | bf16 ms | bf16 / fp32 | fp16 ms | fp16 / fp32 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['layer']} | {r['fp32_ms']:.2f} | {r['bf16_ms']:.2f} | {r['bf16_x']:.1f}x | "
              f"{r['fp16_ms']:.2f} | {r['fp16_x']:.1f}x |")
    verdict = {p: "usable" if s <= SLOWEST_USABLE else "refused" for p, s in probe.items()}
    print(f"actionzoo's probe (runtime.cpu_precision): {probe} -> {verdict}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"machine": machine_info(), "threads": args.threads,
                                        "flags": flags, "rows": rows, "probe": probe,
                                        "verdict": verdict}, indent=2) + "\n")


if __name__ == "__main__":
    main()
