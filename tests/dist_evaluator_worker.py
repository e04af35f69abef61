"""``python tests/dist_evaluator_worker.py OUT_DIR`` (alone, or as one of several processes with
RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set): each process scores its share of the worked
AVA example and of a few videos, and both evaluators gather them; rank 0 writes what it computed,
every rank what it got back. For tests/test_evaluator.py."""

import json
import sys
from pathlib import Path

from evaluator_data import EXPECTED_KEYS, GT, LABELMAP, keyframes, videos

from actionzoo.ava.evaluator import FrameMapEvaluator
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.runtime.distributed import init_distributed

if __name__ == "__main__":
    out = Path(sys.argv[1])
    ctx = init_distributed("cpu")
    ava = FrameMapEvaluator(EXPECTED_KEYS, GT, LABELMAP, set(), out_csv=out / "detections.csv")
    ava.process(ctx.shard(keyframes()))
    top_k = TopKEvaluator(["a", "b", "c"])
    top_k.process(ctx.shard(videos()))
    outcome, result = ava.evaluate(ctx), top_k.evaluate(ctx)
    (out / f"rank{ctx.rank}.json").write_text(json.dumps(
        {"shared": len(ava.items), "ava_none": outcome is None, "top_k_none": result is None}))
    if ctx.is_main:
        (out / "result.json").write_text(json.dumps(
            {"mAP": outcome.mAP, "stored": outcome.stored, "failed": outcome.failed,
             "rows": outcome.detection_rows, "metrics": result.metrics.to_dict(),
             "per_class": result.per_class, "video_failed": result.failed}))
    ctx.close()
