"""Peak memory of ``prepare frames`` and ``prepare ava`` against the length of a 1080p video.

Both stream: a frame is decoded, encoded and dropped (``frames`` keeps at most 4 decoded frames in
its read-ahead queue; ``ava`` the current and the previous one). Their peak RSS must therefore not
grow with the video's length. Each run is a fresh ``python -m actionzoo prepare ...`` process
(one video, ``--workers 0``); its peak RSS is read from ``getrusage(RUSAGE_CHILDREN)`` in a
small wrapper process.

    python benchmarks/prepare_memory.py [--seconds 5,20]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

_WRAPPER = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def write_1080p(path: Path, seconds: float, fps: int = 30) -> None:
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (1080, 1920 + 2 * int(seconds * fps), 3), dtype=np.uint8),
                            (9, 9), 0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        for k in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, 2 * k : 2 * k + 1920]), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def peak_rss_mb(command: list[str]) -> float:
    result = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", default="5,20")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="prepare-mem-"))
    try:
        print(f"{'video':>12} {'frames peak MB':>15} {'ava peak MB':>12}")
        for seconds in [float(s) for s in args.seconds.split(",")]:
            src = root / f"src{seconds:g}"
            src.mkdir()
            write_1080p(src / "movie.mp4", seconds)
            base = [sys.executable, "-m", "actionzoo", "prepare"]
            frames = peak_rss_mb(base + ["frames", str(src), str(root / f"f{seconds:g}"), "--level", "1",
                                         "--ext", "mp4", "--workers", "0", "--no-progress"])
            shutil.rmtree(root / f"f{seconds:g}")
            ava = peak_rss_mb(base + ["ava", str(src), str(root / f"a{seconds:g}"), "--start", "0",
                                      "--duration", str(seconds + 1), "--workers", "0", "--no-progress"])
            shutil.rmtree(root / f"a{seconds:g}")
            print(f"{f'{seconds:g} s 1080p':>12} {frames:>15.0f} {ava:>12.0f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
