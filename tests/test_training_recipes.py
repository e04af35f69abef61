"""Recipes as data: learning-rate formulas, parameter groups, initialisation, inflation, head reset."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from helpers import random_state

import actionzoo
from actionzoo.errors import UsageError
from actionzoo.models.init import initialise
from actionzoo.training.config import TrainConfig, plan_training
from actionzoo.training.initialize import initial_model, torchvision_resnet_key
from actionzoo.training.optim import learning_rate, parameter_groups
from actionzoo.zoo.registry import get_model_spec


def test_every_registry_entry_has_a_recipe_with_its_container() -> None:
    for name in actionzoo.list_models():
        spec = get_model_spec(name)
        assert spec.recipe is not None, name
        assert spec.recipe.writes in spec.checkpoint_formats, name


def _lr(name: str, iteration: int, iters: int = 10, base: float = 0.1) -> float:
    return learning_rate(get_model_spec(name).recipe.schedule, base, iteration, iters)


def test_slowfast_cosine_with_per_iteration_linear_warmup_from_a_tenth() -> None:
    # mmcv: regular = 0.1 * (1 + cos(pi e / 256)) / 2 per whole epoch e; warm-up 34 epochs x 10
    # iterations: regular * (1 - (1 - it / 340) * 0.9).
    regular = lambda e: 0.1 * 0.5 * (1 + math.cos(math.pi * e / 256))  # noqa: E731
    assert _lr("slowfast_r50_8x8x1_k400", 0) == pytest.approx(0.01)
    assert _lr("slowfast_r50_8x8x1_k400", 175) == pytest.approx(regular(17) * (1 - (1 - 175 / 340) * 0.9))
    assert _lr("slowfast_r50_8x8x1_k400", 340) == pytest.approx(0.0957, abs=5e-5)  # end of warm-up
    assert _lr("slowfast_r50_8x8x1_k400", 1285) == pytest.approx(regular(128))
    assert _lr("slowfast_r50_8x8x1_k400", 1289) == _lr("slowfast_r50_8x8x1_k400", 1280)  # by epoch


def test_x3d_cosine_at_fractional_epochs_with_warmup_from_0_01() -> None:
    cosine = lambda e: 0.1 * 0.5 * (1 + math.cos(math.pi * e / 300))  # noqa: E731
    assert _lr("x3d_s_k400", 0) == pytest.approx(0.01)
    assert _lr("x3d_s_k400", 350) == pytest.approx(cosine(35))  # 0.0967 per shard unit
    assert cosine(35) == pytest.approx(0.0967, abs=5e-5)
    assert _lr("x3d_s_k400", 175) == pytest.approx((0.01 + cosine(35)) / 2)
    assert _lr("x3d_s_k400", 1234) == pytest.approx(cosine(123.4))  # set every iteration


def test_tsm_steps_and_ava_relative_steps_with_warmup() -> None:
    assert [_lr("tsm_r50_1x1x8_sthv2", 10 * e) for e in (0, 19, 20, 39, 40, 49)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    ava = [_lr("slowfast_r50_ava", round(10 * e)) for e in (0, 2.5, 5, 9.9, 10, 15, 19)]
    assert ava == pytest.approx([0.000125, (0.000125 + 0.1) / 2, 0.1, 0.1, 0.01, 0.001, 0.001])


def test_a_short_run_scales_warmup_and_steps_and_says_so() -> None:
    spec = get_model_spec("slowfast_r50_8x8x1_k400")
    plan = plan_training(TrainConfig("slowfast_r50_8x8x1_k400", Path("w"), epochs=8, batch_size=8),
                         spec, num_classes=400, class_names=None, train_samples=80, world_size=1)
    assert plan.schedule.epochs == 8 and plan.schedule.warmup_epochs == pytest.approx(34 * 8 / 256)
    assert plan.lr == pytest.approx(0.1 * 8 / 64)
    assert any("warm-up 34 -> 1.06 epochs" in note for note in plan.notes)
    assert any("scaled linearly to 0.0125" in note for note in plan.notes)
    tsm = plan_training(TrainConfig("tsm_r50_1x1x8_sthv2", Path("w"), epochs=5),
                        get_model_spec("tsm_r50_1x1x8_sthv2"), num_classes=174, class_names=None,
                        train_samples=480, world_size=2)
    assert tsm.schedule.steps == (2.0, 4.0) and tsm.per_process_batch == 24
    with pytest.raises(UsageError, match="does not split over 2 processes"):
        plan_training(TrainConfig("tsm_r50_1x1x8_sthv2", Path("w"), batch_size=5),
                      get_model_spec("tsm_r50_1x1x8_sthv2"), num_classes=174, class_names=None,
                      train_samples=480, world_size=2)
    with pytest.raises(UsageError, match="head pools a window fixed by its 160 train crop"):
        plan_training(TrainConfig("x3d_s_k400", Path("w"), input_size=96),
                      get_model_spec("x3d_s_k400"), num_classes=400, class_names=None,
                      train_samples=480, world_size=1)


def _groups(name: str, model: torch.nn.Module | None = None) -> list[dict]:
    spec = get_model_spec(name)
    model = model if model is not None else spec.builder(spec.num_classes)
    return parameter_groups(model, spec.recipe.optimizer, spec.recipe.init.classifier)


def test_tsm_has_seven_groups_in_the_constructor_order() -> None:
    model = get_model_spec("tsm_r50_1x1x8_sthv2").builder(174)
    groups = _groups("tsm_r50_1x1x8_sthv2", model)
    assert [g["name"] for g in groups] == ["first_w", "first_b", "w", "b", "bn", "fc_w", "fc_b"]
    assert [g["lr_mult"] for g in groups] == [1, 2, 1, 2, 1, 5, 10]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0, 5e-4, 0, 0, 5e-4, 0]
    sizes = [len(g["params"]) for g in groups]
    assert sizes[0] == 1 and sizes[1] == 0 and sizes[3] == 0  # bias-free convs: empty, kept
    assert sizes[5] == 1 and sizes[6] == 1 and groups[5]["params"][0].shape == (174, 2048)
    assert sum(sizes) == len(list(model.parameters()))


def test_pyslowfast_puts_bn_first_without_decay_and_mmaction2_decays_everything() -> None:
    model = get_model_spec("x3d_s_k400").builder(400)
    bn, other = _groups("x3d_s_k400", model)
    assert bn["name"] == "bn" and bn["weight_decay"] == 0.0 and other["weight_decay"] == 5e-5
    norms = [p for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d) for p in m.parameters()]
    assert {id(p) for p in bn["params"]} == {id(p) for p in norms}
    (single,) = _groups("slowfast_r50_8x8x1_k400")
    assert single["weight_decay"] == 1e-4 and single["lr_mult"] == 1.0


def test_reference_initialisation_zeroes_the_last_bn_of_each_block() -> None:
    spec = get_model_spec("slowfast_r50_8x8x1_k400")
    torch.manual_seed(0)
    model = initialise(spec.builder(400), spec.recipe.init)
    block = model.backbone.slow_path.layer1[0]
    assert torch.all(block.conv3.bn.weight == 0) and torch.all(block.conv1.bn.weight == 1)
    std = model.cls_head.fc_cls.weight.std().item()
    assert 0.008 < std < 0.012 and torch.all(model.cls_head.fc_cls.bias == 0)
    conv = block.conv1.conv.weight
    fan_out = conv.shape[0] * conv[0, 0].numel()
    assert conv.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)
    x3d = initialise(get_model_spec("x3d_s_k400").builder(400), get_model_spec("x3d_s_k400").recipe.init)
    assert torch.all(x3d.s2.pathway0_res0.branch2.c_bn.weight == 0)


def test_fine_tuning_loads_everything_and_resets_a_resized_classifier(tmp: Path) -> None:
    spec = get_model_spec("x3d_s_k400")
    state = random_state("x3d_s_k400")
    path = tmp / "x3d.pyth"
    torch.save({"epoch": 299, "model_state": state, "optimizer_state": {}}, path)
    torch.manual_seed(1)
    model, report = initial_model(spec, 7, path)
    loaded = model.state_dict()
    assert torch.equal(loaded["s5.pathway0_res6.branch2.a.weight"], state["s5.pathway0_res6.branch2.a.weight"])
    assert torch.equal(loaded["head.lin_5.weight"], state["head.lin_5.weight"])
    assert loaded["head.projection.weight"].shape == (7, 2048)
    assert 0.008 < loaded["head.projection.weight"].std().item() < 0.012
    assert "head.projection (400 -> 7 classes" in " ".join(report.lines())
    same, report = initial_model(spec, 400, path)
    assert torch.equal(same.state_dict()["head.projection.weight"], state["head.projection.weight"])
    assert report.loaded == len(state) and not report.reinitialised


def _torchvision_resnet50() -> "OrderedDict[str, torch.Tensor]":
    """A torchvision-format ResNet-50 state dict (random values, the real keys and shapes)."""
    tsm = get_model_spec("tsm_r50_1x1x8_sthv2").builder(174)
    gen = torch.Generator().manual_seed(3)
    state = OrderedDict()
    for key, value in tsm.state_dict().items():
        source = torchvision_resnet_key(key)
        if source is not None:
            state[source] = torch.randn(value.shape, generator=gen) if value.is_floating_point() \
                else value.clone()
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 2048), torch.randn(1000)
    return state


def test_imagenet_resnet_copies_into_tsm_and_inflates_into_slowfast(tmp: Path) -> None:
    source = _torchvision_resnet50()
    path = tmp / "resnet50.pth"
    torch.save(source, path)
    tsm, report = initial_model(get_model_spec("tsm_r50_1x1x8_sthv2"), 174, path)
    state = tsm.state_dict()
    assert torch.equal(state["backbone.layer3.2.conv1.conv.net.weight"], source["layer3.2.conv1.weight"])
    assert torch.equal(state["backbone.layer1.0.downsample.bn.running_var"],
                       source["layer1.0.downsample.1.running_var"])
    assert report.loaded == 318 and report.inflated == 0  # every conv and BN tensor; not fc
    assert any("fc.weight" in s for s in report.skipped)

    slowfast, report = initial_model(get_model_spec("slowfast_r50_8x8x1_k400"), 400, path)
    state = slowfast.state_dict()
    stem = state["backbone.slow_path.conv1.conv.weight"]  # (64, 3, 1, 7, 7): kt = 1
    assert torch.equal(stem[:, :, 0], source["conv1.weight"])
    res4 = state["backbone.slow_path.layer3.0.conv1.conv.weight"]  # kt = 3, lateral channels padded
    width = source["layer3.0.conv1.weight"].shape[1]
    assert res4.shape[2] == 3 and res4.shape[1] > width
    assert torch.allclose(res4[:, :width, 1], source["layer3.0.conv1.weight"] / 3)
    assert torch.all(res4[:, width:] == 0)
    assert report.inflated > 0
    assert any("backbone.fast_path" in s for s in report.skipped)  # 1/8-wide: cannot match
    lateral = slowfast.backbone.slow_path.conv1_lateral.conv.weight
    assert lateral.abs().sum() > 0  # kept its kaiming initialisation


@pytest.mark.parametrize("name, names", [
    ("tsm_r50_1x1x8_sthv2", "ImageNet ResNet-50 IMAGENET1K_V1, resnet50-0676ba61.pth"),
    ("r2plus1d_r34_8x8x1_ucf101", "r2plus1d_r34_256p_8x8x1_180e_kinetics400_rgb_20200729-aa94765e.pth"),
    ("slowfast_r50_ava", "SLOWFAST_8x8_R50.pkl"),
])
def test_a_fine_tune_recipe_refuses_to_start_without_init(name: str, names: str, tmp: Path) -> None:
    from helpers import run_cli

    (tmp / "train.txt").write_text("a.mp4 0\n")
    data = (["--frames-dir", str(tmp), "--frame-list", str(tmp / "train.txt"), "--gt",
             str(tmp / "train.txt")] if name == "slowfast_r50_ava"
            else ["--ann", str(tmp / "train.txt"), "--data-root", str(tmp)])
    done = run_cli(["train", name, *data, "--work-dir", str(tmp / "w"), "--no-progress"])
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0] and "--init none" in lines[0], lines
    assert not (tmp / "w").exists()  # refused before any work


def test_init_none_says_from_scratch_and_a_scratch_recipe_says_it_matches() -> None:
    tsm = get_model_spec("tsm_r50_1x1x8_sthv2")
    plan = plan_training(TrainConfig(tsm.name, Path("w"), init="none"), tsm, num_classes=174,
                         class_names=None, train_samples=480, world_size=1)
    assert plan.init.startswith("FROM SCRATCH (--init none); the reference starts from the "
                                "torchvision ImageNet ResNet-50")
    assert "init         FROM SCRATCH" in plan.render() and plan.to_dict()["init"] == plan.init
    x3d = get_model_spec("x3d_s_k400")
    plan = plan_training(TrainConfig(x3d.name, Path("w"), batch_size=8), x3d, num_classes=400,
                         class_names=None,
                         train_samples=480, world_size=1)
    assert plan.init == "the reference initialisation: from scratch, as the reference"
    from actionzoo.training.config import require_reference_start

    require_reference_start(TrainConfig(x3d.name, Path("w")), x3d)  # X3D trains from scratch
    with pytest.raises(UsageError, match="SLOWFAST_8x8_R50.pkl"):
        require_reference_start(TrainConfig("slowfast_r50_ava", Path("w")),
                                get_model_spec("slowfast_r50_ava"))


def test_models_verbose_prints_each_recipe_and_what_it_starts_from(capsys) -> None:
    from actionzoo.cli.main import main

    assert main(["models", "-v"]) == 0
    out = capsys.readouterr().out
    assert out.count("  recipe      ") == len(actionzoo.list_models())
    assert "starts from the PySlowFast Kinetics-400 SlowFast, SLOWFAST_8x8_R50.pkl" in out
    assert "starts from scratch (the reference initialisation)" in out  # X3D, SlowFast K400
    assert "batch       2048 clips per step (global); SGD lr 1.6 for batch 2048" in out
    assert "precise BN 200, BN batch 16 per device" in out  # X3D
    assert "validation  every 5 epochs: mini-val (sec % 4 == 0, centre crop): " in out  # AVA


def test_plans_state_what_differs_from_the_reference() -> None:
    def plan(name: str, **flags):
        spec = get_model_spec(name)
        config = TrainConfig(name, Path("w"), init="none", **flags)
        return plan_training(config, spec, num_classes=spec.num_classes, class_names=None,
                             train_samples=100, world_size=1)

    x3d = plan("x3d_s_k400", batch_size=8)
    assert x3d.drop_last and x3d.iters_per_epoch == 12  # PySlowFast drops the partial batch
    assert any("BN normalises over 8 clips per forward" in n and "over 16 per device" in n
               for n in x3d.notes)
    assert "decoded at short side 182" in x3d.pipeline.describe()
    assert "precise BN 200 batches on checkpoint and validation epochs" in x3d.render()
    assert not plan("slowfast_r50_8x8x1_k400", batch_size=8).drop_last  # mmaction2 keeps it
    r21d = " ".join(plan("r2plus1d_r34_8x8x1_ucf101").notes)
    assert "batch 128 = 8 devices x 16 is an ASSUMPTION" in r21d and "400-way fc" in r21d
    ava = " ".join(plan("slowfast_r50_ava", batch_size=64).notes)
    assert "ground truth only (no --boxes)" in ava and "sec % 4 == 0" in ava


def test_x3d_frames_are_shrunk_to_short_side_182_before_the_jitter() -> None:
    import numpy as np

    from actionzoo.data.train_clips import _decoded_at_short_side

    frames = np.random.default_rng(0).integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)
    small = _decoded_at_short_side(frames, 182)
    assert small.shape == (2, 182, 243, 3) and small.dtype == np.uint8


def test_sync_bn_leaves_r2plus1d_inner_bn_per_process() -> None:
    from actionzoo.runtime.sync_batchnorm import CPUSyncBatchNorm, convert_sync_batchnorm

    model = get_model_spec("r2plus1d_r34_8x8x1_ucf101").builder(101).double()
    model, count = convert_sync_batchnorm(model, torch.device("cpu"))
    inner = [m for n, m in model.named_modules() if n.endswith("bn_s")]
    assert inner and all(type(m) is torch.nn.BatchNorm3d for m in inner)
    synced = [m for m in model.modules() if isinstance(m, CPUSyncBatchNorm)]
    assert len(synced) == count > 0 and all(m.weight.dtype == torch.float64 for m in synced)


def test_ava_validates_on_the_mini_val_during_training_and_eval_keeps_the_full_protocol() -> None:
    from actionzoo.zoo.protocol_catalog import AVA_OFFICIAL

    spec = get_model_spec("slowfast_r50_ava")

    def plan(**flags):
        return plan_training(TrainConfig(spec.name, Path("w"), init="none", **flags), spec,
                             num_classes=80, class_names=None, train_samples=64, world_size=1)

    default = plan()
    val = default.val_protocol
    assert val.pipeline.mini_val and val.pipeline.center_crop
    assert "validation   every 5 epochs with mini-val (sec % 4 == 0, centre crop): " in default.render()
    assert any("AVA.FULL_TEST_ON_VAL False" in n and "--full-val" in n for n in default.notes)
    sized = plan(input_size=64).val_protocol.pipeline
    assert (sized.short_side, sized.center_crop, sized.mini_val) == (64, True, True)
    full = plan(full_val=True)
    assert full.val_protocol == AVA_OFFICIAL and "mini-val" not in full.render()
    # eval: every protocol of the detector scores every keyframe on full frames
    assert spec.official == AVA_OFFICIAL
    assert all(not p.pipeline.mini_val and not p.pipeline.center_crop
               for p in spec.protocols.values())
    with pytest.raises(UsageError, match="--full-val: x3d_s_k400 validates with its reference's"):
        plan_training(TrainConfig("x3d_s_k400", Path("w"), full_val=True), get_model_spec("x3d_s_k400"),
                      num_classes=4, class_names=None, train_samples=64, world_size=1)


def test_ava_without_boxes_says_ground_truth_only_in_the_data_line() -> None:
    spec = get_model_spec("slowfast_r50_ava")

    def plan(**flags):
        return plan_training(TrainConfig(spec.name, Path("w"), init="none", **flags), spec,
                             num_classes=80, class_names=None, train_samples=64, world_size=1)

    assert "GT boxes only" in plan().pipeline.describe()
    assert "GT + detector boxes >= 0.8" not in plan().render()
    assert "GT + detector boxes >= 0.8" in plan(boxes=Path("b.csv")).pipeline.describe()


def test_x3d_train_clips_are_cut_from_frames_shrunk_to_short_side_182() -> None:
    import dataclasses

    import numpy as np

    from actionzoo.data.train_clips import _decoded_at_short_side, pyslowfast_train_clip

    pipeline = get_model_spec("x3d_s_k400").recipe.pipeline
    frames = np.random.default_rng(0).integers(0, 256, (4, 240, 320, 3), dtype=np.uint8)
    clip = pyslowfast_train_clip(frames, pipeline, np.random.default_rng(5))
    native = dataclasses.replace(pipeline, decode_short_side=None)
    shrunk = pyslowfast_train_clip(_decoded_at_short_side(frames, 182), native,
                                   np.random.default_rng(5))
    assert torch.equal(clip, shrunk)
    # resizing once from the native frames (what the fix replaced) gives other pixels
    assert not torch.equal(clip, pyslowfast_train_clip(frames, native, np.random.default_rng(5)))
