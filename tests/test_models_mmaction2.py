"""The three mmaction2 recognizers: state-dict layout, shapes, and the details that change their logits.

Expected values are computed here independently: hand-built tensors, plain ``torch.nn.functional`` calls,
the reference key lists, and the widths quoted in the reference facts. Where a test reuses a helper of the
code under test (``temporal_shift``), that helper has its own hand-built test above it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import reference_header, reference_keys
from torch import Tensor, nn

from actionzoo.models.r2plus1d import (
    Conv2plus1d,
    conv2plus1d_mid_channels,
    r2plus1d_r34_mmaction2,
)
from actionzoo.models.slowfast_mmaction2 import (
    SlowFastHead,
    select_slow_frames,
    slowfast_r50_mmaction2,
)
from actionzoo.models.tsm import TemporalShift, temporal_shift, tsm_r50_mmaction2

# name -> (builder, reference key list, input shape without batch, classes)
MODELS: dict[str, tuple[Callable[[], nn.Module], str, tuple[int, ...], int]] = {
    "slowfast": (slowfast_r50_mmaction2, "slowfast_r50_8x8x1_k400_mmaction2", (3, 32, 32, 32), 400),
    "r2plus1d": (r2plus1d_r34_mmaction2, "r2plus1d_r34_8x8x1_ucf101_ascend_mmaction2", (3, 8, 32, 32), 400),
    "tsm": (tsm_r50_mmaction2, "tsm_r50_1x1x8_sthv2_mmaction2", (3, 8, 32, 32), 174),
}
SLOW_FRAMES = [0, 4, 8, 12, 16, 20, 24, 28]


@pytest.fixture(autouse=True, scope="module")
def single_thread() -> Iterator[None]:
    """Run these tiny forwards on one thread: on a busy 2-core machine, intra-op threads mostly spin-wait
    (measured: 65 s with 2 threads under load, 12 s with 1). The previous setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@cache
def eval_model(name: str) -> nn.Module:
    """One seeded eval-mode instance per model, shared by the tests that only read it."""
    torch.manual_seed(0)
    return MODELS[name][0]().eval()


def clip(name: str, batch: int = 2, seed: int = 1) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *MODELS[name][2]), generator=generator)


def capture_input(module: nn.Module) -> tuple[list[Tensor], torch.utils.hooks.RemovableHandle]:
    """Record the first positional input of every call of ``module``."""
    seen: list[Tensor] = []
    handle = module.register_forward_pre_hook(lambda _module, args: seen.append(args[0].detach().clone()))
    return seen, handle


# ---------------------------------------------------------------------------------------------------------
# Contract shared by the three models


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_equals_reference_keys_shapes_dtypes_and_order(name: str) -> None:
    model = eval_model(name)
    ours = [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in model.state_dict().items()
    ]
    assert ours == reference_keys(MODELS[name][1])


@pytest.mark.parametrize("name", MODELS)
def test_parameter_and_entry_counts_equal_reference_header(name: str) -> None:
    model = eval_model(name)
    header = reference_header(MODELS[name][1])
    assert sum(p.numel() for p in model.parameters()) == header["parameters"]
    assert len(model.state_dict()) == header["entries"]


@pytest.mark.parametrize("name", MODELS)
def test_builder_returns_a_train_mode_module(name: str) -> None:
    torch.manual_seed(0)
    assert MODELS[name][0]().training


@pytest.mark.parametrize("name", MODELS)
def test_output_is_float32_logits_one_row_per_clip(name: str) -> None:
    with torch.no_grad():
        logits = eval_model(name)(clip(name))
    assert logits.shape == (2, MODELS[name][3])
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_eval_output_is_deterministic_and_clips_do_not_mix(name: str) -> None:
    model = eval_model(name)
    x = clip(name)
    with torch.no_grad():
        first, second = model(x), model(x)
        alone = model(x[1:])
        other_first_clip = model(torch.cat([clip(name, batch=1, seed=7), x[1:]]))
    assert torch.equal(first, second)
    scale = first.abs().max().item()
    torch.testing.assert_close(alone[0], first[1], rtol=0, atol=1e-5 * scale)
    torch.testing.assert_close(other_first_clip[1], first[1], rtol=0, atol=1e-5 * scale)
    assert not torch.allclose(first[0], first[1])


@pytest.mark.parametrize(("builder", "classes"), [(slowfast_r50_mmaction2, 7), (r2plus1d_r34_mmaction2, 101)])
def test_num_classes_sets_the_classifier_width(builder: Callable[..., nn.Module], classes: int) -> None:
    model = builder(num_classes=classes)
    assert model.cls_head.fc_cls.out_features == classes


def export_and_run(module: nn.Module, example: Tensor, other: Tensor, path: Path) -> Tensor:
    """Export with a dynamic batch axis, then run onnxruntime on an input of another batch size."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.onnx.export(
        module, (example,), str(path), dynamo=False, opset_version=17,
        input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
    )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"x": other.numpy()})[0])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter announces its retirement
def test_exported_temporal_shift_is_slices_and_concats_that_follow_the_batch(tmp_path: Path) -> None:
    """The shift must export without scatters (what slice assignment becomes) and not freeze the batch size."""
    onnx = pytest.importorskip("onnx")
    shift = TemporalShift(nn.Identity(), num_segments=8).eval()
    generator = torch.Generator().manual_seed(0)
    other = torch.randn(16, 16, 2, 2, generator=generator)
    path = tmp_path / "shift.onnx"
    exported = export_and_run(shift, torch.randn(8, 16, 2, 2, generator=generator), other, path)
    assert torch.equal(exported, temporal_shift(other, num_segments=8))
    op_types = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not op_types & {"ScatterND", "ScatterElements", "Scatter"}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_eager_at_another_batch_size(name: str, tmp_path: Path) -> None:
    model = eval_model(name)
    x = clip(name, batch=2, seed=3)
    exported = export_and_run(model, clip(name, batch=1), x, tmp_path / f"{name}.onnx")
    with torch.no_grad():
        eager = model(x)
    torch.testing.assert_close(exported, eager, rtol=0, atol=1e-4 * eager.abs().max().item())


# ---------------------------------------------------------------------------------------------------------
# SlowFast


def test_select_slow_frames_keeps_frames_0_4_to_28() -> None:
    frames = torch.arange(32.0).reshape(1, 1, 32, 1, 1)
    assert select_slow_frames(frames).flatten().tolist() == SLOW_FRAMES


def test_slow_stem_sees_every_fourth_frame_and_fast_stem_sees_all() -> None:
    model = eval_model("slowfast")
    x = clip("slowfast")
    slow_seen, slow_handle = capture_input(model.backbone.slow_path.conv1)
    fast_seen, fast_handle = capture_input(model.backbone.fast_path.conv1)
    try:
        with torch.no_grad():
            model(x)
    finally:
        slow_handle.remove()
        fast_handle.remove()
    assert torch.equal(slow_seen[0], x[:, :, SLOW_FRAMES])
    assert torch.equal(fast_seen[0], x)


def test_slowfast_backbone_feature_shapes() -> None:
    with torch.no_grad():
        slow, fast = eval_model("slowfast").backbone(clip("slowfast"))
    assert slow.shape == (2, 2048, 8, 1, 1)
    assert fast.shape == (2, 256, 32, 1, 1)


def test_laterals_are_bare_time_strided_convs_without_bias_norm_or_relu() -> None:
    slow_path = eval_model("slowfast").backbone.slow_path
    generator = torch.Generator().manual_seed(0)
    fast_widths = {"conv1_lateral": 8, "layer1_lateral": 32, "layer2_lateral": 64, "layer3_lateral": 128}
    for name, channels in fast_widths.items():
        lateral = getattr(slow_path, name)
        assert [key for key, _ in lateral.state_dict().items()] == ["conv.weight"]
        x = torch.randn(1, channels, 32, 2, 2, generator=generator)
        expected = F.conv3d(x, lateral.conv.weight, stride=(4, 1, 1), padding=(3, 0, 0))
        with torch.no_grad():
            out = lateral(x)
        assert out.shape == (1, 2 * channels, 8, 2, 2)
        assert (out < 0).any()  # no activation
        torch.testing.assert_close(out, expected)


def test_head_reads_fast_features_first() -> None:
    torch.manual_seed(0)
    head = SlowFastHead(num_classes=5).eval()
    generator = torch.Generator().manual_seed(0)
    slow = torch.randn(2, 2048, 2, 3, 3, generator=generator)
    fast = torch.randn(2, 256, 8, 3, 3, generator=generator)
    pooled = torch.cat([fast.mean(dim=(2, 3, 4)), slow.mean(dim=(2, 3, 4))], dim=1)
    expected = pooled @ head.fc_cls.weight.T + head.fc_cls.bias
    with torch.no_grad():
        torch.testing.assert_close(head((slow, fast)), expected)
        head.fc_cls.weight[:, :256] = 0.0  # the fast columns: the output must no longer depend on fast
        other_fast = torch.randn(2, 256, 8, 3, 3, generator=generator)
        other_slow = torch.randn(2, 2048, 2, 3, 3, generator=generator)
        assert torch.equal(head((slow, fast)), head((slow, other_fast)))
        assert not torch.allclose(head((slow, fast)), head((other_slow, fast)))


def test_slowfast_rejects_clip_length_not_divisible_by_4() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        eval_model("slowfast")(torch.zeros(1, 3, 30, 32, 32))


# ---------------------------------------------------------------------------------------------------------
# R(2+1)D


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "kernel", "mid"),
    [
        (3, 64, (3, 7, 7), 83),
        (64, 64, 3, 144),
        (64, 128, 3, 230),
        (128, 128, 3, 288),
        (64, 128, 1, 54),
        (128, 256, 3, 460),
        (256, 256, 3, 576),
        (128, 256, 1, 109),
        (256, 512, 3, 921),
        (512, 512, 3, 1152),
        (256, 512, 1, 219),
    ],
)
def test_conv2plus1d_mid_channels_match_reference_widths(
    in_channels: int, out_channels: int, kernel: int | tuple[int, int, int], mid: int
) -> None:
    assert conv2plus1d_mid_channels(in_channels, out_channels, kernel) == mid
    assert Conv2plus1d(in_channels, out_channels, kernel).conv_s.out_channels == mid


def test_r2plus1d_inner_norms_use_eps_1e5_and_outer_norms_eps_1e3() -> None:
    norms = {name: m for name, m in eval_model("r2plus1d").named_modules() if isinstance(m, nn.BatchNorm3d)}
    inner = {name: m.eps for name, m in norms.items() if name.endswith(".bn_s")}
    outer = {name: m.eps for name, m in norms.items() if name.endswith(".bn")}
    assert len(inner) == len(outer) == 36  # stem + 2 per block (16 blocks) + 3 shortcuts
    assert len(inner) + len(outer) == len(norms)
    assert set(inner.values()) == {1e-5}
    assert set(outer.values()) == {1e-3}


def test_conv2plus1d_is_spatial_conv_bn_relu_then_temporal_conv() -> None:
    torch.manual_seed(0)
    conv = Conv2plus1d(4, 6, 3, stride=(2, 2, 2), padding=1).eval()
    mid = conv.conv_s.out_channels
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # small running variances make the eps visible
        conv.bn_s.running_var.copy_(torch.rand(mid, generator=generator) * 1e-4)
        conv.bn_s.running_mean.copy_(torch.randn(mid, generator=generator) * 0.1)
        conv.bn_s.weight.copy_(torch.rand(mid, generator=generator) + 0.5)
        conv.bn_s.bias.copy_(torch.randn(mid, generator=generator) * 0.1)
    x = torch.randn(2, 4, 8, 10, 10, generator=generator)
    hidden = F.conv3d(x, conv.conv_s.weight, stride=(1, 2, 2), padding=(0, 1, 1))
    hidden = F.batch_norm(
        hidden, conv.bn_s.running_mean, conv.bn_s.running_var, conv.bn_s.weight, conv.bn_s.bias, eps=1e-5
    )
    expected = F.conv3d(F.relu(hidden), conv.conv_t.weight, stride=(2, 1, 1), padding=(1, 0, 0))
    with torch.no_grad():
        out = conv(x)
    assert out.shape == (2, 6, 4, 5, 5)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_r2plus1d_stages_halve_time_after_the_first() -> None:
    backbone = eval_model("r2plus1d").backbone
    shapes: list[tuple[int, ...]] = []
    handles = [
        getattr(backbone, f"layer{i}").register_forward_hook(lambda _m, _a, out: shapes.append(tuple(out.shape)))
        for i in range(1, 5)
    ]
    try:
        with torch.no_grad():
            backbone(clip("r2plus1d", batch=1))
    finally:
        for handle in handles:
            handle.remove()
    assert shapes == [(1, 64, 8, 8, 8), (1, 128, 4, 4, 4), (1, 256, 2, 2, 2), (1, 512, 1, 1, 1)]


# ---------------------------------------------------------------------------------------------------------
# TSM


def test_temporal_shift_on_a_hand_written_example() -> None:
    # 3 segments, 2 channels, shift_div 2 -> fold 1: channel 0 reads the next segment, channel 1 the previous.
    frames = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]).reshape(3, 2, 1, 1)
    expected = torch.tensor([[2.0, 0.0], [3.0, 10.0], [0.0, 20.0]]).reshape(3, 2, 1, 1)
    assert torch.equal(temporal_shift(frames, num_segments=3, shift_div=2), expected)


def test_temporal_shift_matches_elementwise_definition_per_clip() -> None:
    clips, segments, channels, shift_div = 2, 4, 9, 4  # fold 2; channel 8 is past 2*fold and stays
    frames = torch.arange(clips * segments * channels * 6, dtype=torch.float32).reshape(-1, channels, 2, 3)
    expected = torch.zeros_like(frames)
    fold = channels // shift_div
    for clip_index in range(clips):
        for t in range(segments):
            row = clip_index * segments + t
            for c in range(channels):
                if c < fold:
                    source = row + 1 if t + 1 < segments else None
                elif c < 2 * fold:
                    source = row - 1 if t > 0 else None
                else:
                    source = row
                if source is not None:
                    expected[row, c] = frames[source, c]
    assert torch.equal(temporal_shift(frames, segments, shift_div), expected)


def test_every_bottleneck_shifts_its_residual_branch_only() -> None:
    model = eval_model("tsm")
    shifts = [name for name, m in model.named_modules() if isinstance(m, TemporalShift)]
    assert len(shifts) == 16
    assert all(name.startswith("backbone.layer") and name.endswith(".conv1.conv") for name in shifts)

    block = model.backbone.layer2[0]  # has a downsample shortcut
    block_seen, block_handle = capture_input(block)
    net_seen, net_handle = capture_input(block.conv1.conv.net)
    shortcut_seen, shortcut_handle = capture_input(block.downsample)
    try:
        with torch.no_grad():
            model(clip("tsm"))
    finally:
        for handle in (block_handle, net_handle, shortcut_handle):
            handle.remove()
    block_input = block_seen[0]
    assert torch.equal(shortcut_seen[0], block_input)
    assert torch.equal(net_seen[0], temporal_shift(block_input, num_segments=8, shift_div=8))
    assert not torch.equal(net_seen[0], block_input)


def test_tsm_frames_of_one_clip_are_consecutive_rows() -> None:
    model = eval_model("tsm")
    x = clip("tsm")
    seen, handle = capture_input(model.backbone)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    frames = seen[0]
    assert frames.shape == (16, 3, 32, 32)
    for n in range(2):
        for t in range(8):
            assert torch.equal(frames[n * 8 + t], x[n, :, t])


def test_tsm_logits_are_the_mean_of_per_frame_logits() -> None:
    model = eval_model("tsm")
    features: list[Tensor] = []
    handle = model.backbone.register_forward_hook(lambda _m, _a, out: features.append(out.detach()))
    try:
        with torch.no_grad():
            logits = model(clip("tsm"))
    finally:
        handle.remove()
    fc = model.cls_head.fc_cls
    per_frame = features[0].mean(dim=(2, 3)) @ fc.weight.T + fc.bias
    expected = per_frame.reshape(2, 8, -1).mean(dim=1)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5 * expected.abs().max().item())


def test_tsm_num_segments_sets_the_shift_groups_and_the_expected_clip_length() -> None:
    torch.manual_seed(0)
    model = tsm_r50_mmaction2(num_classes=10, num_segments=4).eval()
    assert {m.num_segments for m in model.modules() if isinstance(m, TemporalShift)} == {4}
    with torch.no_grad():
        assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="4 segments"):
        model(torch.randn(1, 3, 8, 32, 32))


@pytest.mark.parametrize("shape", [(1, 3, 4, 32, 32), (1, 3, 16, 32, 32), (8, 3, 32, 32)])
def test_tsm_rejects_inputs_that_are_not_one_clip_of_8_segments(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="8 segments"):
        eval_model("tsm")(torch.zeros(shape))
