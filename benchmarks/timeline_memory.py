"""Peak memory and speed of ``timeline`` over a 15-minute 720p video, decoded once, front to back.

The video is the one ``long_video_memory.py`` makes (a 30 s 720p H.264 clip stream-copied into 15
minutes). ``timeline`` runs in a fresh process that reports its peak RSS above the baseline after
the model is built, with the bound the design promises: the frames open windows keep,
``T x (window / stride + 1)`` decoded 720p frames, plus one frame being decoded and the batch of
views. The whole video would be 27,000 frames x 2.76 MB = 75 GB.

    python benchmarks/timeline_memory.py [--minutes 15] [--window 2 --stride 2] \
        [--out docs/bench/timeline_memory.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from long_video_memory import write_long_video  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import actionzoo
from actionzoo.engines.pytorch import TorchEngine
from actionzoo.prediction.timeline import timeline
from actionzoo.zoo.registry import get_model_spec
name, path, window, stride = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
spec = get_model_spec(name)
engine = TorchEngine(actionzoo.build_model(name))
engine.run(__import__("numpy").zeros((1, *spec.clip_shape), "float32"))  # warm the allocator
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = timeline(name, path, engine=engine, window=window, stride=stride,
                  class_names=spec.class_names())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
frames_kept = spec.clip_shape[1] * (int(window / stride) + 1)
print(json.dumps({"model": name, "window_s": window, "stride_s": stride,
                  "windows": len(result.windows), "frames_read": result.frames_read,
                  "video_s": round(result.seconds_read, 1), "wall_s": round(result.wall, 1),
                  "windows_per_s": round(result.windows_per_s, 2),
                  "realtime_factor": round(result.realtime_factor, 2),
                  "bound_frames": frames_kept,
                  "bound_mb": round(frames_kept * 720 * 1280 * 3 / 2**20, 1),
                  "peak_rss_above_baseline_mb": round((peak - base) / 1024, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--model", default="x3d_s_k400")
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--stride", type=float, default=2.0)
    parser.add_argument("--out", default="docs/bench/timeline_memory.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long_720p.mp4"
        write_long_video(video, args.minutes)
        done = subprocess.run([sys.executable, "-c", CHILD, args.model, str(video), str(args.window),
                               str(args.stride)], capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(row, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
