"""Streaming evaluation against a naive loop that decodes once per view, same engine, one run.

The naive loop is what the vendor guides' scripts amount to: for every view, open the video, decode
that view's frames, build the view, run the model at batch 1. The streaming path is
``actionzoo.evaluate.evaluate_records``: decode workers, each video decoded once, views of several
videos packed into engine batches. Both produce the same video scores (checked). Also reported: the
share of the streaming run's wall time spent outside decode, preprocess and the model.

    python benchmarks/streaming_vs_naive.py --out docs/bench/streaming.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from actionzoo.engines.throughput import machine_info
from actionzoo.data.annotations import read_video_list
from actionzoo.data.decode import VideoFile
from actionzoo.data.synthetic import write_synthetic_videos
from actionzoo.data.transforms import (
    pyslowfast_normalize,
    pyslowfast_short_side_resize,
    pyslowfast_uniform_crop,
)
from actionzoo.data.views import view_frame_indices
from actionzoo.engines import OpenVinoEngine
from actionzoo.evaluation.recognition import evaluate_records
from actionzoo.evaluation.store import ResultsStore
from actionzoo.export.onnx import export_model
from actionzoo.zoo.registry import get_model_spec

MODEL = "x3d_s_k400"  # 30 views per video: where decoding once per view hurts most


def naive(records, protocol, engine) -> tuple[dict[str, np.ndarray], float]:
    pipeline = protocol.pipeline
    scores = {}
    start = time.perf_counter()
    for record in records:
        indices = view_frame_indices(record.path, protocol)  # (V, T)
        rows = []
        for view in range(len(indices)):
            video = VideoFile(record.path)  # a fresh open and decode per view
            frames = torch.from_numpy(video.read(indices[view].tolist()))
            normed = pyslowfast_normalize(frames, pipeline.mean, pipeline.std)
            resized = pyslowfast_short_side_resize(normed.permute(3, 0, 1, 2), pipeline.crop_size)
            clip = pyslowfast_uniform_crop(resized, pipeline.crop_size,
                                           view % pipeline.num_spatial_crops)
            rows.append(engine.run(clip[None].numpy())[0])
        scores[record.video_id] = protocol.aggregation.combine(np.stack(rows))
    return scores, time.perf_counter() - start


def streaming(records, protocol, engine, tmp: Path, batch: int, workers: int):
    with ResultsStore(tmp / "bench.db", {"bench": "streaming"}, resume=False) as store:
        report = evaluate_records(records, model_name=MODEL, protocol=protocol, engine=engine,
                                  store=store, batch_size=batch, workers=workers, progress=False)
        scores = {r.video_id: r.scores for r in store.results() if r.scores is not None}
    return scores, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default="docs/bench/streaming.json")
    args = parser.parse_args()
    protocol = get_model_spec(MODEL).protocol("official")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = write_synthetic_videos(tmp / "data", num_classes=args.videos, videos_per_class=1,
                                      num_frames=300, size=(256, 340))
        records = read_video_list(data.annotation, data.root).records
        path, _ = export_model(MODEL, tmp / "x3d.onnx")
        engine = OpenVinoEngine(path)
        fused_scores, report = streaming(records, protocol, engine, tmp, args.batch_size,
                                         args.workers)
        if report.failed:
            raise SystemExit(f"streaming run failed on: {report.failed}")
        naive_scores, naive_wall = naive(records, protocol, engine)
    worst = max(float(np.abs(fused_scores[k] - naive_scores[k]).max()) for k in naive_scores)
    t = report.times
    result = {
        "model": MODEL,
        "protocol": protocol.describe(),
        "engine": engine.describe(),
        "videos": len(records),
        "streaming_wall_s": round(t.wall, 2),
        "naive_wall_s": round(naive_wall, 2),
        "speedup": round(naive_wall / t.wall, 2),
        "streaming_split_s": {k: round(v, 2) for k, v in t.to_dict().items()},
        "streaming_share_outside_decode_preprocess_model": round(t.other / t.wall, 3),
        "max_abs_score_diff_streaming_vs_naive": worst,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "machine": machine_info(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
