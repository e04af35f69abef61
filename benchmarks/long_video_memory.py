"""Peak memory and time of preprocessing a 15-minute 720p video, per protocol.

A 30 s 720p H.264 clip is encoded once and stream-copied 30 times into one 15-minute MP4 (no
re-encoding, so the file is made in seconds). Each protocol then runs in a fresh process that
reports its peak RSS above the interpreter's baseline (imports included in the baseline), next to
the bytes of the distinct frames the views need and of the output tensor. Memory bounded by the
frames one video's views need means: peak delta ~ needed frames + output, never the whole video
(27,000 frames x 2.76 MB = 75 GB).

    python benchmarks/long_video_memory.py --out docs/bench/long_video.json

``--video`` keeps the generated file (made only if missing), so the same video can be measured
again with another checkout (``PYTHONPATH=<other>/src``) for a before/after comparison; ``--cases``
picks ``model:protocol`` pairs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
import actionzoo
from actionzoo.data.decode import VideoFile
from actionzoo.data.views import view_frame_indices
from actionzoo.zoo.registry import get_model_spec
name, protocol, path = sys.argv[1:4]
spec = get_model_spec(name)
proto = spec.protocol(protocol)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
views = actionzoo.preprocess(name, path, protocol)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
video = VideoFile(path)
distinct = len(np.unique(view_frame_indices(video, proto)))
h, w = video.size
print(json.dumps({"model": name, "protocol": proto.describe(), "frames_in_video": len(video),
                  "distinct_frames_needed": distinct,
                  "needed_frames_mb": round(distinct * h * w * 3 / 2**20, 1),
                  "output_mb": round(views.numel() * 4 / 2**20, 1),
                  "peak_rss_above_baseline_mb": round((peak - base) / 1024, 1),
                  "peak_rss_mb": round(peak / 1024, 1),
                  "seconds": round(wall, 1)}))
"""


def write_long_video(path: Path, minutes: int = 15, size: tuple[int, int] = (720, 1280)) -> None:
    clip = path.with_name("clip30s.mp4")
    fps = 30
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, size=(size[0] // 16, size[1] // 16, 3), dtype=np.uint8)
    texture = np.kron(texture, np.ones((16, 16, 1), np.uint8))
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28", "g": "250"}
        for t in range(30 * fps):
            frame = np.roll(texture, 4 * t, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(clip)) as source:
        packets = [p for p in source.demux(video=0) if p.size]
        in_stream = source.streams.video[0]
        step = int(Fraction(30, 1) / in_stream.time_base)  # 30 s in stream time units
        with av.open(str(path), "w") as out:
            stream = out.add_stream_from_template(in_stream)
            for repeat in range(minutes * 2):
                for p in packets:
                    p.pts += step if repeat else 0
                    p.dts += step if repeat else 0
                    p.stream = stream
                    out.mux(p)
    clip.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/bench/long_video.json")
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--video", type=Path, help="keep the generated video here (reused if present)")
    parser.add_argument("--cases", nargs="+", metavar="MODEL:PROTOCOL",
                        help="default: every recognizer's protocols listed in the script")
    args = parser.parse_args()
    cases = [("x3d_s_k400", "official"), ("slowfast_r50_8x8x1_k400", "ascend"),
             ("tsm_r50_1x1x8_sthv2", "official"), ("r2plus1d_r34_8x8x1_ucf101", "official"),
             ("slowfast_r50_8x8x1_k400", "official")]
    if args.cases:
        cases = [tuple(case.split(":", 1)) for case in args.cases]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or Path(tmp) / "long_720p.mp4"
        if not video.exists():
            write_long_video(video, args.minutes)
        for name, protocol in cases:
            done = subprocess.run([sys.executable, "-c", CHILD, name, protocol, str(video)],
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
