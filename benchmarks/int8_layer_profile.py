"""Why INT8 pays for one recognizer and not for another: OpenVINO's per-layer profile of the fp32
graph and of its INT8 IR, summed per layer kind, at the official view shape.

The model has random weights (or ``--checkpoint``), is quantized with ``quantize_int8`` on views
of generated videos (the speed of a quantized graph does not depend on what its weights learned),
and both graphs run ``--rounds`` times per batch size with profiling on.

    python benchmarks/int8_layer_profile.py [--models x3d_s_k400,slowfast_r50_8x8x1_k400] \
        [--batch-sizes 1,4] [--rounds 5] [--out docs/bench/int8_layers.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from actionzoo.engines.throughput import machine_info
from actionzoo.data.annotations import read_video_list
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.data.examples import example_inputs
from actionzoo.precision.int8 import quantize_int8
from actionzoo.precision.layer_profile import compare_profiles, profile_layers
from actionzoo.zoo.registry import build_model, get_model_spec


def profile_model(name: str, root: Path, records, *, batch_sizes: list[int], rounds: int,
                  checkpoint: str | None) -> dict:
    spec = get_model_spec(name)
    net = build_model(spec, checkpoint)
    quantized = quantize_int8(spec, root / f"{name}.int8.xml", records, net=net, calibration_size=16,
                              workers=1)
    official = spec.protocol("official")
    rows = []
    for batch in batch_sizes:
        inputs = example_inputs(official, batch)
        fp32 = profile_layers(quantized.fp32_file, inputs, rounds=rounds)
        int8 = profile_layers(quantized.model_file, inputs, rounds=rounds)
        print(f"\n{name}, official view {'x'.join(map(str, official.view_shape[1:]))}, batch {batch}")
        for line in compare_profiles(fp32, int8):
            print(line)
        rows.append({"batch": batch, "fp32_wall_ms": round(fp32.wall_ms, 2), "int8_wall_ms": round(int8.wall_ms, 2),
                     "kinds": {kind: {"fp32_ms": round(fp32.by_kind().get(kind, (0, 0))[0], 2),
                                      "int8_ms": round(ms, 2), "int8_kernel_ms": round(in_int8, 2)}
                               for kind, (ms, in_int8) in int8.by_kind().items()}})
    return {"model": name, "view": list(official.view_shape), "profiles": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="x3d_s_k400,slowfast_r50_8x8x1_k400")
    parser.add_argument("--checkpoint", help="weights for a single --models entry")
    parser.add_argument("--batch-sizes", default="1,4")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="docs/bench/int8_layers.json")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = write_synthetic_videos(root, num_classes=2, videos_per_class=2, num_frames=64, size=(128, 170))
        records = read_video_list(videos.annotation, root).records
        for name in args.models.split(","):
            results.append(profile_model(name, root, records, batch_sizes=batch_sizes, rounds=args.rounds,
                                         checkpoint=args.checkpoint))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info(), "models": results}, indent=2) + "\n")
    print(f"\nwrote {out}; machine {machine_info()}")


if __name__ == "__main__":
    main()
