"""Machine-dependent choices by measurement (batch-1 padding, batch size), the roofline columns of
bench, and TSM's OpenVINO graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from actionzoo.engines.batch_size import best_batch_size, soonest_batch
from actionzoo.bench.roofline import gflop_per_clip, matmul_peak_gflops
from actionzoo.cli import main
from actionzoo.engines.base import EngineBase, EngineInfo
from actionzoo.engines.pytorch import TorchEngine
from actionzoo.zoo.registry import get_model_spec


@pytest.fixture
def tuning(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACTIONZOO_TUNING", "on")
    monkeypatch.setenv("ACTIONZOO_CACHE", str(tmp / "cache"))
    return tmp / "cache" / "tuning.json"


class Tiny3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3, 4))


def test_batch_one_padding_is_decided_by_measurement_and_remembered(tuning: Path) -> None:
    calls: list[str] = []

    def timer_padding_wins(call) -> float:
        call()
        calls.append("timed")
        return 1.0 if len(calls) % 2 else 0.4  # plain first, then padded

    torch.manual_seed(0)
    model = Tiny3d().eval()
    x = torch.randn(1, 3, 4, 8, 8)
    engine = TorchEngine(model)
    assert engine.pads_batch_one(x, timer=timer_padding_wins) is True
    assert len(calls) == 2
    out = engine.run(x.numpy())
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-6)  # padding changes no value
    assert len(calls) == 2  # remembered: not measured again
    assert TorchEngine(model).pads_batch_one(x, timer=lambda call: 1 / 0) is True  # from the cache
    stored = json.loads(tuning.read_text())
    assert any('"pytorch batch-1 padding"' in key for key in stored)

    fresh = TorchEngine(Tiny3d().eval())  # another model and shape: here plain wins
    z = torch.randn(1, 3, 5, 8, 8)
    times = iter([0.3, 0.9])  # plain 0.3 s, padded 0.9 s
    assert fresh.pads_batch_one(z, timer=lambda call: next(times)) is False


class Stepwise(EngineBase):
    """An engine whose call costs 20 ms up to 2 clips and 160 ms beyond: batch 2 is fastest, by
    4x, and stays so while the machine's load delays each call by less than 26 ms."""

    def __init__(self) -> None:
        self.info = EngineInfo("stub", "stub", "cpu", "fp32", threads=1)

    def run(self, x: np.ndarray) -> np.ndarray:
        import time

        time.sleep(0.02 if len(x) <= 2 else 0.16)
        return np.zeros((len(x), 400), np.float32)


def test_the_fastest_batch_size_is_measured_once_and_reused(tuning: Path) -> None:
    spec = get_model_spec("x3d_s_k400")
    protocol = spec.protocol("official")
    batch, how = best_batch_size(spec, protocol, Stepwise(), candidates=(1, 2, 4, 8))
    assert batch == 2 and "measured now" in how
    batch, how = best_batch_size(spec, protocol, Stepwise(), candidates=(1, 2, 4, 8))
    assert batch == 2 and "measured earlier" in how


def test_a_run_with_fewer_views_than_the_fastest_batch_takes_the_batch_that_ends_it_soonest(
        tuning: Path) -> None:
    spec = get_model_spec("x3d_s_k400")
    protocol = spec.protocol("official")
    rates = {"1": 10.0, "2": 19.0, "4": 30.0, "8": 40.0, "16": 44.0}
    # 12 views: 16 -> 1 call of 16/44 = 0.36 s; 8 -> 2 calls of 8/40 = 0.40 s; 4 -> 3 x 4/30 = 0.40 s
    assert soonest_batch(rates, 12) == 16
    # 5 views: 16 -> 0.36 s, 8 -> 0.20 s, 4 -> 2 x 0.133 = 0.27 s, 2 -> 3 x 0.105 = 0.32 s
    assert soonest_batch(rates, 5) == 8
    assert soonest_batch(rates, 1) == 1  # 0.10 s against 0.105 at 2
    assert soonest_batch(rates, 1000) == 16  # a long run: the fastest rate
    assert soonest_batch({"1": 10.0, "2": 20.0}, 1) == 2  # a tie: the larger batch

    class Affine(Stepwise):  # a call costs 20 ms + 5 ms per clip: the larger batch, the faster
        def run(self, x: np.ndarray) -> np.ndarray:
            import time

            time.sleep(0.02 + 0.005 * len(x))
            return np.zeros((len(x), 400), np.float32)

    batch, how = best_batch_size(spec, protocol, Affine(), candidates=(1, 2, 4, 8))
    assert batch == 8 and "the fastest here" in how
    # 3 views: one call of 4 (40 ms) beats one of 8 (60 ms) and two of 2 (60 ms); from the cache
    batch, how = best_batch_size(spec, protocol, Affine(), candidates=(1, 2, 4, 8), views=3)
    assert batch == 4 and "for this run's 3 views" in how and "batch 8, the fastest, would pad" in how
    assert best_batch_size(spec, protocol, Affine(), candidates=(1, 2, 4, 8), views=100)[0] == 8


@pytest.mark.slow
def test_without_measuring_eval_says_which_batch_size_it_used(tmp: Path, capsys) -> None:
    from actionzoo.data.synthetic import write_synthetic_videos

    data = write_synthetic_videos(tmp / "v", num_classes=1, videos_per_class=1, num_frames=40,
                                  size=(64, 86))
    assert main(["eval", "x3d_s_k400", "--ann", str(data.annotation), "--data-root", str(data.root),
                 "--results", str(tmp / "r.db"), "--workers", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "batch size 8 views per engine call: the default (measuring is off" in out
    assert "8 views / 0" in out


@pytest.mark.slow
def test_gflop_counts_match_the_registry_and_bench_prints_the_roofline(tmp: Path, capsys) -> None:
    for name in ("x3d_s_k400", "tsm_r50_1x1x8_sthv2"):
        spec = get_model_spec(name)
        assert gflop_per_clip(spec, spec.clip_shape) == pytest.approx(spec.gflop, abs=0.02)
    peak = matmul_peak_gflops("fp32", 1, n=512, min_seconds=0.1)
    assert peak is not None and peak > 1.0
    assert main(["bench", "x3d_s_k400", "--engine", "pytorch", "--batch-sizes", "1", "--warmup", "0",
                 "--min-seconds", "0", "--threads", "1", "--out", str(tmp / "b")]) == 0
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "% of peak" in out and "matrix-multiply peak here" in out
    row = json.loads((tmp / "b.json").read_text())["rows"][0]
    assert row["gflop_per_clip"] == pytest.approx(5.46, abs=0.05)  # 2 x 2.73 GMAC (X3D-S, 182)
    assert row["achieved_gflops"] == pytest.approx(row["gflop_per_clip"] * row["clips_per_s"])
    assert row["peak_fraction"] == pytest.approx(row["achieved_gflops"] / row["peak_gflops"])


def test_the_peak_is_the_faster_of_the_two_gemm_routes(monkeypatch) -> None:
    from actionzoo.bench import roofline

    speeds = iter([100.0, 160.0])  # a @ b, then the pointwise Conv3d
    outputs = []

    def timed(op, flop, min_seconds):
        outputs.append(op())
        return next(speeds)

    monkeypatch.setattr(roofline, "_best_gflops", timed)
    assert roofline._time_matmul(64, torch.float32, 0.1) == 160.0
    product, convolved = outputs  # both routes compute the same 64^3 GEMM
    assert convolved.shape == (1, 64, 1, 8, 8)
    torch.testing.assert_close(convolved.reshape(64, 64), product, rtol=1e-4, atol=1e-4)

    def conv_has_no_kernel(op, flop, min_seconds):
        if op().dim() == 5:
            raise RuntimeError("no kernel")
        return 90.0

    monkeypatch.setattr(roofline, "_best_gflops", conv_has_no_kernel)
    assert roofline._time_matmul(64, torch.float32, 0.1) == 90.0


@pytest.mark.slow
def test_tsm_for_openvino_runs_its_shift_as_a_5d_depthwise_conv(tmp: Path, capsys) -> None:
    # At 64 pixels: the shift's rewrite is what is checked (test_export_engines exports TSM full size).
    assert main(["export", "tsm_r50_1x1x8_sthv2", "-o", str(tmp / "tsm.onnx"), "--target",
                 "openvino", "--num-random", "1", "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 2  # ONNX Runtime and OpenVINO both match PyTorch
    graph = onnx.load(str(tmp / "tsm.onnx")).graph
    kinds = [n.op_type for n in graph.node]
    assert "Slice" not in kinds and kinds.count("Conv") == 53 + 16  # 53 convs + 16 shifts
    depthwise = [n for n in graph.node if n.op_type == "Conv"
                 and any(a.name == "group" and a.i > 1 for a in n.attribute)]
    assert len(depthwise) == 16


def test_machine_fingerprint_names_the_runtimes_without_importing_them() -> None:
    """The torch-only GPU check runs where OpenVINO is absent: naming versions must not import."""
    code = (
        "import sys; from actionzoo.runtime.tuning import machine_fingerprint as f; p = f(); "
        "print(p); print(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'openvino'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fingerprint, imported = done.stdout.strip().splitlines()
    assert imported == "[]"
    assert "onnxruntime " in fingerprint and "openvino " in fingerprint  # both installed here
