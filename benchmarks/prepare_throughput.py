"""Frame extraction throughput: ``actionzoo prepare frames`` against the reference tool's method.

The reference (mmaction2 ``build_rawframes.py --use-opencv``) is a ``multiprocessing.Pool`` over
videos, each worker reading with ``cv2.VideoCapture`` and writing with ``cv2.imwrite``. Both run
here side by side, interleaved, on copies of one generated 720p H.264 video, at each worker count;
frames/s counts every JPEG written, wall time from the start of the run to its end (pool start-up
included). Also measured: JPEG encoding alone, cv2 against simplejpeg at quality 95, and whether
their bytes are identical (if they were, the faster one could replace cv2 without changing output).

    python benchmarks/prepare_throughput.py [--videos 4] [--seconds 4] [--workers 0,1,2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import simplejpeg

import actionzoo


def write_720p(path: Path, seconds: float, fps: int = 30) -> int:
    """A textured 1280x720 H.264 video whose content moves (so decoding and JPEG do real work)."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280 + 64 * 4, 3), dtype=np.uint8), (9, 9), 0)
    count = int(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for k in range(count):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, k * 4 : k * 4 + 1280]), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return count


def _reference_one(job: tuple[str, str]) -> int:
    """mmaction2's ``extract_frame`` with ``--use-opencv``, reduced to what it does per frame."""
    video, out = job
    Path(out).mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(video)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    for i in range(count):
        ok, frame = capture.read()
        if not ok:
            break
        cv2.imwrite(f"{out}/img_{i + 1:05d}.jpg", frame)
    return count


def reference_method(videos: list[Path], out: Path, workers: int) -> tuple[int, float]:
    """``workers`` 0: the same loop in this process (no pool), to compare the per-video work alone."""
    start = time.perf_counter()
    jobs = [(str(v), str(out / v.stem)) for v in videos]
    if workers == 0:
        return sum(_reference_one(job) for job in jobs), time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        frames = sum(pool.map(_reference_one, jobs, chunksize=1))
    return frames, time.perf_counter() - start


def actionzoo_method(src: Path, out: Path, workers: int) -> tuple[int, float]:
    start = time.perf_counter()
    summary = actionzoo.prepare_frames(src, out, level=1, ext="mp4", workers=workers, progress=False)
    assert summary.ok
    return summary.frames, time.perf_counter() - start


def encoder_comparison(video: Path, repeats: int = 20) -> dict[str, float | bool]:
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    timings = {}
    for name, encode in {
        "cv2.imencode q95": lambda: bytes(cv2.imencode(".jpg", frame)[1]),
        "simplejpeg q95 4:2:0": lambda: simplejpeg.encode_jpeg(frame, quality=95, colorspace="BGR",
                                                               colorsubsampling="420", fastdct=False),
    }.items():
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            encode()
            best = min(best, time.perf_counter() - t)
        timings[name] = best * 1000
    a = bytes(cv2.imencode(".jpg", frame)[1])
    b = simplejpeg.encode_jpeg(frame, quality=95, colorspace="BGR", colorsubsampling="420", fastdct=False)
    timings["identical bytes"] = a == b
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", default="0,1,2", help="0: in this process, no pool")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prepare-bench-"))
    try:
        src = root / "videos"
        src.mkdir()
        frames = write_720p(src / "v0.mp4", args.seconds)
        for i in range(1, args.videos):
            shutil.copy(src / "v0.mp4", src / f"v{i}.mp4")
        videos = sorted(src.glob("*.mp4"))
        print(f"{len(videos)} videos x {frames} frames, 1280x720 H.264, JPEG quality 95; "
              f"best of {args.rounds} interleaved rounds; cv2 {cv2.__version__}")
        print("encoder, one 720p frame:", {k: (round(v, 2) if isinstance(v, float) else v)
                                           for k, v in encoder_comparison(videos[0]).items()}, "(ms)")
        print(f"{'workers':>7} {'reference frames/s':>19} {'actionzoo frames/s':>19} {'ratio':>6}")
        for workers in [int(w) for w in args.workers.split(",")]:
            best = {"reference": 0.0, "actionzoo": 0.0}
            for _ in range(args.rounds):
                for name, method in (("reference", lambda o: reference_method(videos, o, workers)),
                                     ("actionzoo", lambda o: actionzoo_method(src, o, workers))):
                    out = root / f"out-{name}"
                    shutil.rmtree(out, ignore_errors=True)
                    count, seconds = method(out)
                    best[name] = max(best[name], count / seconds)
            print(f"{workers:>7} {best['reference']:>19.1f} {best['actionzoo']:>19.1f} "
                  f"{best['actionzoo'] / best['reference']:>6.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
