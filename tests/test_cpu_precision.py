"""bf16/fp16 on a CPU only where it runs at a usable speed: the decision is measured (a Conv3d in
fp32 and under autocast), remembered per machine, and a refusal is one line with the figure, from
the engine, the CLI and ``train --amp``; ACTIONZOO_ALLOW_SLOW_PRECISION=1 runs it anyway."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_state, run_in_process

from actionzoo.engines.pytorch import TorchEngine
from actionzoo.errors import UsageError
from actionzoo.runtime import cpu_precision, tuning
from actionzoo.runtime.cpu_precision import ALLOW_SLOW, SLOWEST_USABLE, cpu_slowdown, slowdown_key


@pytest.fixture
def own_cache(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACTIONZOO_CACHE", str(tmp / "cache"))
    monkeypatch.delenv(ALLOW_SLOW, raising=False)
    return tmp / "cache"


def _tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv3d(3, 4, 3, padding=1), torch.nn.Flatten(1))


def _measured(monkeypatch: pytest.MonkeyPatch, slowdown: float) -> list[str]:
    calls: list[str] = []

    def fake(precision: str) -> dict:
        calls.append(precision)
        return {"slowdown": slowdown}

    monkeypatch.setattr(cpu_precision, "_measure", fake)
    return calls


def test_a_precision_measured_slow_is_refused_in_one_line_with_the_figure(own_cache: Path,
                                                                         monkeypatch) -> None:
    calls = _measured(monkeypatch, 63.0)
    with pytest.raises(UsageError) as refused:
        TorchEngine(_tiny_net(), precision="bf16")
    message = str(refused.value)
    assert message.startswith("--precision bf16 on this CPU: a Conv3d measured 63x slower than in fp32")
    assert "\n" not in message and ALLOW_SLOW in message
    with pytest.raises(UsageError, match="fp16 on this CPU"):
        TorchEngine(_tiny_net(), precision="fp16")
    TorchEngine(_tiny_net())  # fp32 is never measured nor refused
    assert calls == ["bf16", "fp16"]
    TorchEngine(_tiny_net(), precision="fp32")
    with pytest.raises(UsageError):
        TorchEngine(_tiny_net(), precision="bf16")
    assert calls == ["bf16", "fp16"]  # remembered, not measured again


def test_a_precision_measured_fast_runs_and_the_override_runs_a_slow_one(own_cache: Path,
                                                                        monkeypatch) -> None:
    x = np.random.default_rng(0).standard_normal((1, 3, 2, 4, 4)).astype(np.float32)
    _measured(monkeypatch, 1.3)
    fast = TorchEngine(_tiny_net(), precision="bf16")
    assert fast.info.precision == "bf16"
    np.testing.assert_allclose(fast.run(x), TorchEngine(_tiny_net()).run(x), atol=0.05)
    tuning.forget()
    _measured(monkeypatch, 63.0)
    monkeypatch.setenv(ALLOW_SLOW, "1")
    assert TorchEngine(_tiny_net(), precision="bf16").info.precision == "bf16"


def test_the_engine_follows_this_machines_real_measurement(own_cache: Path) -> None:
    slowdown = cpu_slowdown("bf16")
    assert slowdown > 0
    stored = tuning.remembered(slowdown_key("bf16"), lambda: pytest.fail("measured twice"))[0]
    assert stored == {"slowdown": slowdown}
    if slowdown > SLOWEST_USABLE:
        with pytest.raises(UsageError, match=f"measured {slowdown:.0f}x slower"):
            TorchEngine(_tiny_net(), precision="bf16")
    else:
        assert TorchEngine(_tiny_net(), precision="bf16").info.precision == "bf16"


@pytest.mark.slow
def test_eval_predict_and_train_refuse_a_slow_precision_before_any_work(own_cache: Path,
                                                                        train_videos: Path,
                                                                        tmp: Path) -> None:
    tuning.store(slowdown_key("bf16"), {"slowdown": 63.0})  # as measured on an AVX2 EPYC
    video = str(train_videos / "videos" / "moving_1_0_0" / "moving_1_0_0_000.mp4")
    torch.save({"state_dict": random_state("r2plus1d_r34_8x8x1_ucf101", num_classes=4)}, tmp / "w.pth")
    common = ["--checkpoint", str(tmp / "w.pth"), "--input-size", "32", "--workers", "1",
              "--no-progress"]
    commands = {
        "eval": ["eval", "r2plus1d_r34_8x8x1_ucf101", "--ann", str(train_videos / "small.txt"),
                 "--data-root", str(train_videos), "--precision", "bf16",
                 "--results", str(tmp / "r.db"), *common],
        "predict": ["predict", "r2plus1d_r34_8x8x1_ucf101", video, "--precision", "bf16", *common],
        "train": ["train", "r2plus1d_r34_8x8x1_ucf101", "--ann", str(train_videos / "small.txt"),
                  "--data-root", str(train_videos), "--work-dir", str(tmp / "run"), "--amp", "bf16",
                  "--epochs", "1", "--batch-size", "2", "--init", "none"],
    }
    for what, args in commands.items():  # in this process: own_cache set the cache and cleared ALLOW_SLOW
        done = run_in_process(args)
        flag = "--amp" if what == "train" else "--precision"
        assert done.returncode == 2, (what, done.stderr[-2000:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"{flag} bf16 on this CPU: a Conv3d measured 63x slower" in lines[0], \
            (what, done.stderr)
    assert not (tmp / "r.db").exists() and not (tmp / "run").exists()  # refused before any work
    ok = run_in_process(["predict", "r2plus1d_r34_8x8x1_ucf101", video, *common])  # fp32 here is unaffected
    assert ok.returncode == 0, ok.stderr[-2000:]


def test_the_bench_peak_of_a_slow_precision_is_none_not_a_fallback_kernel(own_cache: Path,
                                                                          monkeypatch) -> None:
    from actionzoo.bench.roofline import matmul_peak_gflops

    _measured(monkeypatch, 63.0)
    assert matmul_peak_gflops("bf16", 1, n=192, min_seconds=0.05) is None
    tuning.forget()
    _measured(monkeypatch, 1.2)
    peak = matmul_peak_gflops("bf16", 1, n=128, min_seconds=0.05)
    assert peak is not None and peak > 0
