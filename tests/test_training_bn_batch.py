"""``--bn-batch N`` (training.grouped_bn): a forward of B clips normalises each group of N clips
with that group's statistics, as PySlowFast's SubBatchNorm3d does; checkpoints keep the plain
model's keys; the plan says which BN batch is in effect and how to keep the reference's."""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from helpers import CORES, finish_cli, run_cli, start_cli
from torch import nn

import actionzoo
from actionzoo.checkpoint import read_checkpoint
from actionzoo.checkpoint.write import actionzoo_state
from actionzoo.errors import UsageError
from actionzoo.training.config import TrainConfig, plan_training
from actionzoo.training.grouped_bn import (
    GroupedBatchNorm,
    restore_group_statistics,
    use_grouped_batchnorm,
)
from actionzoo.zoo.registry import get_model_spec


def _bn(channels: int = 3, momentum: float | None = 0.1) -> nn.BatchNorm3d:
    torch.manual_seed(0)
    bn = nn.BatchNorm3d(channels, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    return bn


def test_a_grouped_forward_equals_plain_bn_on_each_group_with_its_running_statistics() -> None:
    plain = _bn()
    grouped = GroupedBatchNorm(copy.deepcopy(plain), group_size=2, groups=3)
    grouped.train()
    # one plain BN per group, each fed only its group: the reference's split i % G
    per_group = [copy.deepcopy(plain).train() for _ in range(3)]
    gen = torch.Generator().manual_seed(1)
    for step in range(3):
        x = torch.randn(6, 3, 2, 4, 5, generator=gen, dtype=torch.float64) * (step + 1) + step
        x.requires_grad_(True)
        y = grouped(x)
        for j, bn in enumerate(per_group):
            expected = bn(x[j::3])
            torch.testing.assert_close(y[j::3], expected, rtol=0, atol=1e-12)
        # ...the groups' own running statistics are those of the plain BNs, and the layer's
        # running_mean / running_var are them folded by the reference's aggregate_stats rule
        means = torch.stack([bn.running_mean for bn in per_group])
        variances = torch.stack([bn.running_var for bn in per_group])
        torch.testing.assert_close(grouped.group_mean.view(3, -1), means, rtol=0, atol=1e-12)
        torch.testing.assert_close(grouped.group_var.view(3, -1), variances, rtol=0, atol=1e-12)
        folded_var = variances.mean(0) + (means - means.mean(0)).square().mean(0)
        torch.testing.assert_close(grouped.running_mean, means.mean(0), rtol=0, atol=1e-12)
        torch.testing.assert_close(grouped.running_var, folded_var, rtol=0, atol=1e-12)
    # not what one BN over all 6 clips gives
    whole = copy.deepcopy(plain).train()(x)
    assert (whole - y).abs().max() > 1e-3
    # gradients: the shared affine parameters get the sum of the groups' plain-BN gradients
    y.square().sum().backward()
    grad_x = x.grad.clone()
    x.grad = None
    sum(bn(x[j::3]).square().sum() for j, bn in enumerate(per_group)).backward()
    torch.testing.assert_close(grad_x, x.grad, rtol=0, atol=1e-10)
    for name in ("weight", "bias"):
        expected = sum(getattr(bn, name).grad for bn in per_group)
        torch.testing.assert_close(getattr(grouped, name).grad, expected, rtol=0, atol=1e-10)
    # eval mode uses the folded statistics, as a plain BN with them would
    grouped.eval()
    frozen = copy.deepcopy(plain).eval()
    frozen.load_state_dict(grouped.state_dict())
    torch.testing.assert_close(grouped(x.detach()), frozen(x.detach()), rtol=0, atol=0)


def test_a_partial_forward_is_normalised_in_groups_and_leaves_the_statistics_alone() -> None:
    grouped = GroupedBatchNorm(_bn(), group_size=2, groups=3).train()
    before = {k: v.clone() for k, v in grouped.state_dict().items()}
    x = torch.randn(5, 3, 2, 4, 4, dtype=torch.float64)
    y = grouped(x)
    plain = _bn().train()
    torch.testing.assert_close(y[:4][0::2], plain(x[:4][0::2]), rtol=0, atol=1e-12)
    torch.testing.assert_close(y[4:], _bn().train()(x[4:]), rtol=0, atol=1e-12)
    for key, value in grouped.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_the_state_dict_has_the_plain_models_keys_and_values() -> None:
    spec = get_model_spec("x3d_s_k400")
    torch.manual_seed(0)
    model = spec.builder(4)
    plain = {k: v.clone() for k, v in model.state_dict().items()}
    count = use_grouped_batchnorm(model, 2, 4)
    assert count == sum(1 for k in plain if k.endswith("running_mean")) > 20
    state = model.state_dict()
    assert list(state) == list(plain)
    assert all(torch.equal(state[k], plain[k]) for k in plain)
    fresh = spec.builder(4)
    fresh.load_state_dict(state)  # strict: loads as the plain model


def test_r2plus1d_inner_bn_stays_plain() -> None:
    model = get_model_spec("r2plus1d_r34_8x8x1_ucf101").builder(4)
    use_grouped_batchnorm(model, 2, 4)
    inner = [m for n, m in model.named_modules() if n.endswith("bn_s")]
    assert inner and all(type(m) is nn.BatchNorm3d for m in inner)


def _plan(name: str = "x3d_s_k400", world_size: int = 1, **flags):
    spec = get_model_spec(name)
    return plan_training(TrainConfig(name, Path("w"), init="none", **flags), spec,
                         num_classes=4, class_names=None, train_samples=64, world_size=world_size)


def test_the_plan_prints_the_bn_batch_in_effect_and_how_to_keep_the_reference() -> None:
    text = _plan(batch_size=8).render()
    assert "BN batch     8 clips (8 per forward); the reference's: 16 per device -- --bn-batch 16 " \
        "keeps it" in text
    grouped = _plan(batch_size=32, micro_batch=16, bn_batch=16)
    assert (grouped.bn_batch, grouped.bn_groups, grouped.bn_span) == (16, 1, 1)
    assert "BN batch     16 clips per BN group (--bn-batch; 1 group(s) in each forward of 16); " \
        "the reference's: 16 per device\n" in grouped.render() + "\n"
    assert not any("BN normalises" in n for n in grouped.notes)
    spans = _plan(world_size=4, batch_size=16, bn_batch=8, sync_bn=True)
    assert (spans.bn_span, spans.sync_bn) == (2, True)
    assert "one group over 2 processes x 4 clips" in spans.render()
    local = _plan("r2plus1d_r34_8x8x1_ucf101", world_size=2, batch_size=16)
    assert local.sync_bn and not _plan("r2plus1d_r34_8x8x1_ucf101", world_size=2, batch_size=16,
                                       bn_batch=4).sync_bn
    # R(2+1)D's reference BN: SyncBN over its (assumed) global batch of 128, with that LR
    assert "BN batch     16 clips (all processes x 8 per forward); the reference's: 128 over all " \
        "devices (sync BN) -- --bn-batch 128 keeps it" in local.render()
    assert any("lr 0.0025 is taken as the rate for 128" in n for n in local.notes)


@pytest.mark.parametrize("flags, message", [
    (dict(batch_size=12, bn_batch=8), "--bn-batch 8 does not divide the 12 clips of each forward"),
    (dict(batch_size=16, micro_batch=4, bn_batch=8), "--bn-batch 8 is more than the 4 clips of "
                                                      "each forward: it needs --sync-bn"),
    (dict(batch_size=8, bn_batch=3), "does not divide the 8 clips"),
])
def test_a_bn_batch_that_does_not_split_the_forward_is_refused(flags, message) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        _plan(**flags)


def test_the_cli_prints_the_plan_line_and_refuses_in_one_line(train_videos: Path, tmp: Path) -> None:
    common = ["train", "slowfast_r50_8x8x1_k400", "--ann", str(train_videos / "small.txt"),
              "--data-root", str(train_videos), "--num-classes", "4", "--epochs", "1",
              "--input-size", "32", "--workers", "0", "--no-progress", "--init", "none"]
    bad = run_cli([*common, "--work-dir", str(tmp / "bad"), "--batch-size", "6", "--bn-batch", "4"])
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "--bn-batch 4 does not divide the 6 clips of each forward" in bad.stderr
    assert not (tmp / "bad").exists()


@pytest.mark.slow
def test_a_short_run_with_bn_batch_trains_and_its_checkpoint_loads_for_eval(train_videos: Path,
                                                                           tmp: Path) -> None:
    work = tmp / "grouped"
    done = run_cli(["train", "slowfast_r50_8x8x1_k400", "--ann", str(train_videos / "small.txt"),
                    "--data-root", str(train_videos), "--num-classes", "4", "--epochs", "1",
                    "--batch-size", "4", "--bn-batch", "2", "--input-size", "32", "--workers", "0",
                    "--no-progress", "--init", "none", "--work-dir", str(work)], threads=CORES)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BN batch     2 clips per BN group (--bn-batch; 2 group(s) in each forward of 4); " \
        "the reference's: 8 per device -- --bn-batch 8 keeps it" in done.stdout
    assert "--bn-batch 2: " in done.stdout and "BatchNorm layers normalise over groups of 2" in done.stdout
    plan = json.loads((work / "config.json").read_text())["plan"]
    assert plan["bn_batch"] == 2 and plan["bn_groups"] == 2
    ckpt = read_checkpoint(work / "last.pth")
    spec = get_model_spec("slowfast_r50_8x8x1_k400")
    assert list(ckpt.state_dict) == list(spec.builder(4).state_dict())
    moved = [k for k, v in ckpt.state_dict.items() if k.endswith("running_mean") and v.abs().max() > 0]
    assert moved  # the folded statistics were saved
    model = actionzoo.build_model("slowfast_r50_8x8x1_k400", work / "last.pth").eval()
    assert not any(isinstance(m, GroupedBatchNorm) for m in model.modules())
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32, 32))
    assert out.shape == (1, 4) and torch.isfinite(out).all()


def test_resume_with_another_bn_batch_is_refused() -> None:
    from actionzoo.training.loop import _check_same_run

    plan = _plan(batch_size=8, bn_batch=4)
    stored = json.loads(json.dumps(plan.to_dict(), default=str))
    _check_same_run(Path("w/last.pyth"), stored, plan)
    with pytest.raises(UsageError, match="bn_batch 4, this one has 2"):
        _check_same_run(Path("w/last.pyth"), stored, _plan(batch_size=8, bn_batch=2))


@pytest.mark.slow
def test_kill_9_then_resume_with_bn_batch_ends_with_every_tensor_bit_identical(train_videos: Path,
                                                                               tmp: Path) -> None:
    """The per-group statistics travel in the checkpoint: a run killed part-way through its epoch
    and resumed ends with the running statistics, not only the weights, of an uninterrupted run."""
    lines = (train_videos / "videos.txt").read_text().splitlines()
    (tmp / "sixteen.txt").write_text("\n".join(lines[::2]) + "\n")  # 4 per class, 4 steps
    args = ["train", "slowfast_r50_8x8x1_k400", "--ann", str(tmp / "sixteen.txt"),
            "--data-root", str(train_videos), "--num-classes", "4", "--epochs", "1",
            "--batch-size", "4", "--bn-batch", "2", "--input-size", "32", "--deterministic",
            "--workers", "0", "--no-progress", "--init", "none", "--checkpoint-steps", "1"]
    # four steps: killed after the first last.pth, resumed mid-epoch for the rest
    # every run on one core (the same thread count: the same arithmetic, to the bit); the
    # uninterrupted one beside the killed one
    full = start_cli([*args, "--work-dir", str(tmp / "full")])

    work = tmp / "killed"
    proc = start_cli([*args, "--work-dir", str(work)], to_kill=True)
    # A fresh run writes its first last.pth (atomically) after step 1: kill as soon as it is
    # there. The kill lands within the epoch's three other steps, not within one: with one step
    # to go, a loaded machine let the run write its last step's checkpoint before the poll saw
    # the first (a fresh-clone run failed so).
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and not (work / "last.pth").exists():
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= actionzoo_state(read_checkpoint(work / "last.pth").extras)["iteration"] < 4  # mid-epoch
    resumed = run_cli([*args, "--work-dir", str(work), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    full = finish_cli(full)
    assert full.returncode == 0, full.stderr[-3000:]
    assert "resumed from" in resumed.stdout and "restart from the folded" not in resumed.stdout
    a, b = read_checkpoint(tmp / "full" / "last.pth"), read_checkpoint(work / "last.pth")
    assert a.state_dict.keys() == b.state_dict.keys()
    for key, value in a.state_dict.items():
        assert torch.equal(value, b.state_dict[key]), key
    groups = actionzoo_state(a.extras)["bn_groups"]
    assert groups and all(v.shape[:2] == (1, 2) for v in groups.values())
    for key, value in groups.items():
        assert torch.equal(value, actionzoo_state(b.extras)["bn_groups"][key]), key


def test_group_statistics_restore_only_into_the_run_that_wrote_them() -> None:
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4))
    use_grouped_batchnorm(model, group_size=2, clips_per_forward=4)
    bn = model[1]
    saved = {"1": torch.arange(2 * 2 * 8, dtype=torch.float32).view(2, 2, 8)}  # 2 processes
    assert restore_group_statistics(model, saved, rank=1, world=2) is None
    assert torch.equal(bn.group_mean, saved["1"][1, 0]) and torch.equal(bn.group_var, saved["1"][1, 1])
    assert restore_group_statistics(model, saved, rank=0, world=1) == \
        "they were written by 2 process(es), this run has 1"
    assert restore_group_statistics(model, {}, rank=0, world=1) == \
        "the checkpoint holds no per-group statistics"
    assert "not this model's" in restore_group_statistics(model, {"0": saved["1"]}, rank=0, world=2)
    assert "of shape (2, 2, 6)" in restore_group_statistics(model, {"1": saved["1"][..., :6]},
                                                           rank=0, world=2)
