"""The guides' staged flow, the benchmark command and the demo, run for real on synthetic videos."""

from __future__ import annotations

import csv
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from actionzoo.cli import main
from actionzoo.registry import expected_shapes, get_model_spec
from actionzoo.results import ResultsStore
from actionzoo.synthetic import write_synthetic_videos

MODEL = "slowfast_r50_8x8x1_k400"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staged")
    data = write_synthetic_videos(root / "data", num_classes=3, videos_per_class=1, num_frames=40,
                                  size=(96, 128))
    lines = data.annotation.read_text().splitlines() + ["videos/gone.mp4 1"]
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    gen = torch.Generator().manual_seed(1)
    state = OrderedDict()
    for key, shape in expected_shapes(get_model_spec(MODEL)).items():
        state[key] = (torch.tensor(0) if key.endswith("num_batches_tracked")
                      else torch.rand(shape, generator=gen) + 0.5 if key.endswith("running_var")
                      else torch.randn(shape, generator=gen) * 0.05)
    torch.save({"state_dict": state}, root / "w.pth")
    return root


def test_preprocess_infer_postprocess_equals_fused_eval(dataset: Path, capsys) -> None:
    pre, scores = dataset / "pre", dataset / "scores"
    common = ["--ann", str(dataset / "list.txt"), "--data-root", str(dataset / "data")]
    assert main(["preprocess", MODEL, *common, "--protocol", "ascend", "--out", str(pre),
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 inputs" in out and "1 failed" in out and "FAILED videos/gone.mp4" in out
    arrays = sorted(pre.glob("*.npy"))
    assert [np.load(a).shape for a in arrays] == [(1, 3, 32, 224, 224)] * 3
    # a second run finds everything done and rewrites nothing
    assert main(["preprocess", MODEL, *common, "--protocol", "ascend", "--out", str(pre)]) == 0
    assert "wrote 0 inputs" in capsys.readouterr().out

    assert main(["infer", "--engine", "pytorch", "--checkpoint", str(dataset / "w.pth"),
                 "--inputs", str(pre), "--out", str(scores), "--batch-size", "2"]) == 0
    assert [np.load(scores / a.name).shape for a in arrays] == [(1, 400)] * 3
    capsys.readouterr()
    assert main(["postprocess", "--scores", str(scores), "--json"]) == 0
    staged = json.loads(capsys.readouterr().out)
    assert staged["videos"] == 3 and staged["failed_preprocess"] == ["videos/gone.mp4"]

    db = dataset / "fused.db"
    assert main(["eval", MODEL, *common, "--protocol", "ascend", "--checkpoint",
                 str(dataset / "w.pth"), "--results", str(db), "--workers", "0",
                 "--no-progress"]) == 0
    capsys.readouterr()
    with ResultsStore(db, {}, resume=True) as store:
        fused = {r.video_id: r.scores for r in store.results() if r.scores is not None}
    index = {row["file"]: row["video_id"] for row in csv.DictReader((scores / "index.csv").open())}
    for a in arrays:
        view_scores = np.load(scores / a.name)
        combined = get_model_spec(MODEL).protocol("ascend").aggregation.combine(view_scores)
        np.testing.assert_allclose(combined, fused[index[a.name]], rtol=1e-5, atol=1e-7)

    # inputs made for the ascend views cannot be scored under the official protocol's 30 views
    assert main(["postprocess", "--scores", str(scores), "--protocol", "official"]) == 2
    assert "needs other views" in capsys.readouterr().err


def test_bench_writes_table_csv_json_and_plot(tmp: Path, capsys) -> None:
    out = tmp / "bench" / "x3d"
    assert main(["bench", "x3d_s_k400", "--engine", "pytorch", "--batch-sizes", "1,2",
                 "--warmup", "1", "--min-seconds", "0.1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "clips/s" in text and "x3d_s_k400, official: 10 clips × 3 crops × 182" in text
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [int(r["batch_size"]) for r in rows] == [1, 2]
    assert all(float(r["clips_per_s"]) > 0 and float(r["p90_ms"]) >= float(r["median_ms"])
               for r in rows)
    payload = json.loads(out.with_suffix(".json").read_text())
    assert "loadavg" in payload["machine"]
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_rejects_bad_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "x3d_s_k400", "--batch-sizes", "0,2"])
    assert "batch sizes must be positive" in capsys.readouterr().err
    assert main(["bench", "x3d_s_k400", "--engine", "onnxruntime", "--batch-sizes", "1"]) == 2
    assert "needs an exported model file" in capsys.readouterr().err


def test_bench_end_to_end_reports_stage_split(tmp: Path, capsys) -> None:
    write_synthetic_videos(tmp / "v", num_classes=2, videos_per_class=1, num_frames=40,
                           size=(96, 128))
    assert main(["bench", MODEL, "--protocol", "ascend", "--engine", "pytorch", "--batch-sizes",
                 "1", "--warmup", "0", "--min-seconds", "0", "--e2e", str(tmp / "v"),
                 "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "end to end on 2 videos" in text and "videos/s" in text and "decode" in text


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp / "demo")]) == 0
    text = capsys.readouterr().out
    assert "RANDOM weights" in text
    assert "PASS  onnxruntime" in text
    assert "per-video top-1, ONNX Runtime vs PyTorch: identical" in text
    summary = json.loads((tmp / "demo" / "demo.json").read_text())
    assert summary["engines_agree_top1"] is True
    assert (tmp / "demo" / "bench.png").exists()
