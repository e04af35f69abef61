"""PySlowFast networks: X3D-S, SlowFast R50 Kinetics-400 and SlowFast R50 AVA.

State-dict keys are checked against the reference key lists; behaviour is checked against values computed
here with functional torch ops from the documented facts (head pools fixed by the train crop,
softmax-then-average over positions, SE before Swish, slow-frame selection, fusion conv + BN + ReLU,
[slow, fast] concatenation, the RoI head). Weights are random; BatchNorm statistics are first set from one
batch so that activations stay well scaled and the behavioural checks see non-trivial numbers.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from conftest import reference_header, reference_keys
from torch import Tensor, nn

from actionzoo.export.adapters import roi_align_as_onnx_op
from actionzoo.models.roi_align import roi_align
from actionzoo.models.slowfast_pyslowfast import (
    slow_frame_indices,
    slowfast_r50_pyslowfast_ava,
    slowfast_r50_pyslowfast_k400,
)
from actionzoo.models.x3d import x3d_s_pyslowfast

BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "x3d_s_pyslowfast": x3d_s_pyslowfast,
    "slowfast_r50_8x8_k400_pyslowfast": slowfast_r50_pyslowfast_k400,
    "slowfast_r50_ava22_pyslowfast": slowfast_r50_pyslowfast_ava,
}
SLOW_FRAMES = [0, 4, 8, 13, 17, 22, 26, 31]  # linspace(0, 31, 8).long(), models.md 5.A
SLOW_CHANNELS = 2048  # the first 2048 classifier inputs are the slow pathway's


def state_dict_rows(model: nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()]


@torch.no_grad()
def calibrate(model: nn.Module, *inputs: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics from one batch, then switch to eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    model.train()
    model(*inputs)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def train_mode_without_batch_statistics(model: nn.Module) -> None:
    """Train mode for the head's behaviour, eval-mode BN and dropout so the numbers are comparable."""
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm3d, nn.Dropout)):
            module.eval()


def bn_eval(x: Tensor, norm: nn.BatchNorm3d) -> Tensor:
    return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps)


def _detached_copy(value: object) -> object:
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return [_detached_copy(item) for item in value]
    return value


class Capture:
    """Records the inputs and outputs of the named submodules during a forward (copies, not views)."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        self.inputs: dict[str, list] = {}
        self.outputs: dict[str, object] = {}
        modules = dict(model.named_modules())
        self._handles = [modules[name].register_forward_hook(self._recorder(name)) for name in names]

    def _recorder(self, name: str) -> Callable[[nn.Module, tuple, object], None]:
        def record(module: nn.Module, inputs: tuple, output: object) -> None:
            self.inputs[name] = _detached_copy(inputs)  # type: ignore[assignment]
            self.outputs[name] = _detached_copy(output)

        return record

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def export_to_ort(
    model: nn.Module, inputs: tuple[Tensor, ...], names: list[str]
) -> tuple[ort.InferenceSession, set[str]]:
    """Legacy-exporter ONNX (opset 17, dynamic first axis of every input) -> (session, op types used)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with roi_align_as_onnx_op(model):
            torch.onnx.export(
                model,
                inputs,
                buffer,
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=["scores"],
                dynamic_axes={name: {0: f"{name}_count"} for name in names},
            )
    op_types = {node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node}
    return ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]), op_types


# ------------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize("name", BUILDERS)
def test_state_dict_equals_reference_keys_shapes_dtypes_in_order(name: str) -> None:
    assert state_dict_rows(BUILDERS[name]()) == reference_keys(name)


@pytest.mark.parametrize("name", BUILDERS)
def test_entry_and_parameter_counts_equal_reference_header(name: str) -> None:
    model = BUILDERS[name]()
    header = reference_header(name)
    assert len(model.state_dict()) == header["entries"]
    assert sum(p.numel() for p in model.parameters()) == header["parameters"]


@pytest.mark.parametrize("name", BUILDERS)
def test_builder_returns_plain_module_in_train_mode(name: str) -> None:
    model = BUILDERS[name]()
    assert isinstance(model, nn.Module) and model.training


def test_kinetics_and_ava_slowfast_differ_only_in_classifier_width() -> None:
    # models.md 5.B: identical keys and shapes except head.projection ([400, 2304] vs [80, 2304]).
    k400_with_80_classes = slowfast_r50_pyslowfast_k400(num_classes=80)
    assert state_dict_rows(k400_with_80_classes) == reference_keys("slowfast_r50_ava22_pyslowfast")


# ------------------------------------------------------------------------------------------- X3D-S


@pytest.fixture(scope="module")
def x3d() -> nn.Module:
    torch.manual_seed(0)
    model = calibrate(x3d_s_pyslowfast(), torch.randn(2, 3, 13, 160, 160))
    with torch.no_grad():  # a sharper classifier makes the four head positions disagree clearly
        model.head.projection.weight.mul_(30)
    return model


@pytest.fixture(scope="module")
def x3d_clip() -> Tensor:
    return torch.randn(2, 3, 13, 182, 182, generator=torch.Generator().manual_seed(1))


def x3d_head_by_hand(head: nn.Module, res5: Tensor) -> tuple[Tensor, Tensor]:
    """X3DHead from the facts -> (eval output, per-position logits (N, T', H', W', classes))."""
    x = F.relu(bn_eval(F.conv3d(res5, head.conv_5.weight), head.conv_5_bn))
    x = F.avg_pool3d(x, kernel_size=(13, 5, 5), stride=1)  # fixed by the train crop 160
    x = F.relu(F.conv3d(x, head.lin_5.weight))  # no bias, no BN
    logits = F.linear(x.permute(0, 2, 3, 4, 1), head.projection.weight, head.projection.bias)
    return torch.softmax(logits, dim=-1).mean(dim=(1, 2, 3)), logits


@torch.no_grad()
def test_x3d_eval_output_is_mean_of_softmax_over_2x2_positions(x3d: nn.Module, x3d_clip: Tensor) -> None:
    capture = Capture(x3d, ["s5"])
    out = x3d(x3d_clip)
    capture.close()
    assert out.shape == (2, 400) and out.dtype == torch.float32
    res5 = capture.outputs["s5"][0]
    assert res5.shape == (2, 192, 13, 6, 6)
    expected, logits = x3d_head_by_hand(x3d.head, res5)
    assert logits.shape[1:4] == (1, 2, 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2))
    # The check can tell the documented order from its alternative (softmax of the mean logit).
    softmax_of_mean = torch.softmax(logits.mean(dim=(1, 2, 3)), dim=-1)
    assert not torch.allclose(out, softmax_of_mean, rtol=1e-3, atol=1e-5)


@torch.no_grad()
def test_x3d_train_crop_has_one_position_and_train_mode_returns_logits(x3d: nn.Module) -> None:
    clip = torch.randn(1, 3, 13, 160, 160, generator=torch.Generator().manual_seed(2))
    capture = Capture(x3d, ["s5"])
    probabilities = x3d(clip)
    capture.close()
    _, logits = x3d_head_by_hand(x3d.head, capture.outputs["s5"][0])
    assert logits.shape[1:4] == (1, 1, 1)
    torch.testing.assert_close(probabilities, torch.softmax(logits.flatten(1), dim=1), rtol=1e-5, atol=1e-7)

    train_mode_without_batch_statistics(x3d)
    try:
        train_out = x3d(clip)
        test_crop_train_out = x3d(torch.randn(1, 3, 13, 182, 182))
    finally:
        x3d.eval()
    torch.testing.assert_close(train_out, logits.flatten(1), rtol=1e-5, atol=1e-5)
    assert test_crop_train_out.shape == (1, 4 * 400)  # the reference flattens per-position logits


def test_x3d_squeeze_excitation_only_in_even_blocks() -> None:
    model = x3d_s_pyslowfast()
    reduced_width = {}
    for stage, blocks in (("s2", 3), ("s3", 5), ("s4", 11), ("s5", 7)):
        for index in range(blocks):
            se = getattr(getattr(model, stage), f"pathway0_res{index}").branch2.se
            assert (se is not None) == (index % 2 == 0), f"{stage} block {index}"
            if se is not None:
                reduced_width[stage] = se.fc1.out_channels
    assert reduced_width == {"s2": 8, "s3": 8, "s4": 16, "s5": 32}
    assert sum(1 for name, _ in model.named_modules() if name.endswith(".se")) == 15


def x3d_block_by_hand(block: nn.Module, x: Tensor, se_after_swish: bool = False) -> Tensor:
    """X3D ResBlock from the facts (SE on the BN output, then Swish), or the wrong order if asked."""
    t = block.branch2
    y = F.relu(bn_eval(F.conv3d(x, t.a.weight), t.a_bn))
    y = bn_eval(F.conv3d(y, t.b.weight, stride=t.b.stride, padding=1, groups=t.b.groups), t.b_bn)

    def squeeze_excite(v: Tensor) -> Tensor:
        gate = F.relu(F.conv3d(v.mean(dim=(2, 3, 4), keepdim=True), t.se.fc1.weight, t.se.fc1.bias))
        return v * torch.sigmoid(F.conv3d(gate, t.se.fc2.weight, t.se.fc2.bias))

    if se_after_swish:
        y = squeeze_excite(y * torch.sigmoid(y))
    else:
        y = squeeze_excite(y)
        y = y * torch.sigmoid(y)
    y = bn_eval(F.conv3d(y, t.c.weight), t.c_bn)
    if block.branch1 is None:
        shortcut = x
    else:
        shortcut = bn_eval(F.conv3d(x, block.branch1.weight, stride=block.branch1.stride), block.branch1_bn)
    return F.relu(shortcut + y)


@torch.no_grad()
@pytest.mark.parametrize("block_name", ["s3.pathway0_res0", "s3.pathway0_res2"])
def test_x3d_block_applies_se_before_swish(x3d: nn.Module, block_name: str) -> None:
    block = dict(x3d.named_modules())[block_name]
    x = torch.randn(2, block.branch2.a.in_channels, 5, 12, 12, generator=torch.Generator().manual_seed(3))
    out = block(x)
    torch.testing.assert_close(out, x3d_block_by_hand(block, x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out, x3d_block_by_hand(block, x, se_after_swish=True), rtol=1e-3, atol=1e-3)


def test_x3d_swish_is_a_plain_expression() -> None:
    swish = x3d_s_pyslowfast().s2.pathway0_res0.branch2.b_relu
    x = torch.randn(10, requires_grad=True)
    y = swish(x)
    torch.testing.assert_close(y, x * torch.sigmoid(x))
    assert type(y.grad_fn).__name__ == "MulBackward0"  # not a custom autograd function


@pytest.mark.slow
@torch.no_grad()
def test_x3d_is_deterministic_and_exports_to_onnx(x3d: nn.Module, x3d_clip: Tensor) -> None:
    first, second = x3d(x3d_clip), x3d(x3d_clip)
    assert torch.equal(first, second)
    session, _ = export_to_ort(x3d, (x3d_clip,), ["video"])
    (got,) = session.run(None, {"video": x3d_clip[:1].numpy()})  # batch 1 through the dynamic axis
    np.testing.assert_allclose(got, first[:1].numpy(), rtol=1e-4, atol=1e-6)


# -------------------------------------------------------------------------------- SlowFast trunk


def test_slow_frame_indices_are_linspace_not_stride() -> None:
    assert slow_frame_indices() == SLOW_FRAMES


@pytest.fixture(scope="module")
def ava() -> nn.Module:
    torch.manual_seed(10)
    boxes = torch.tensor([[0, 4.0, 4.0, 60.0, 60.0], [1, 10.0, 0.0, 40.0, 50.0]])
    return calibrate(slowfast_r50_pyslowfast_ava(), torch.randn(2, 3, 32, 64, 64), boxes)


@pytest.fixture(scope="module")
def ava_clip() -> Tensor:
    return torch.randn(2, 3, 32, 64, 64, generator=torch.Generator().manual_seed(11))


@pytest.fixture(scope="module")
def ava_boxes() -> Tensor:
    """(batch_index, x1, y1, x2, y2) in input pixels; the last box leaves the 64 x 64 frame."""
    return torch.tensor(
        [
            [0, 8.0, 8.0, 40.0, 56.0],
            [1, 0.0, 0.0, 64.0, 64.0],
            [1, 20.5, 3.25, 33.0, 30.0],
            [0, 40.0, -10.0, 90.0, 50.0],
        ]
    )


@pytest.fixture(scope="module")
def ava_run(ava: nn.Module, ava_clip: Tensor, ava_boxes: Tensor) -> tuple[Tensor, Capture]:
    """One eval forward of the AVA model, with the tensors entering and leaving key stages."""
    capture = Capture(ava, ["s1.pathway0_stem", "s1.pathway1_stem", "s1", "s2", "s5"])
    with torch.no_grad():
        out = ava(ava_clip, ava_boxes)
    capture.close()
    return out, capture


def test_slow_pathway_sees_frames_0_4_8_13_17_22_26_31(ava_clip: Tensor, ava_run: tuple[Tensor, Capture]) -> None:
    _, capture = ava_run
    slow_input = capture.inputs["s1.pathway0_stem"][0]
    torch.testing.assert_close(slow_input, ava_clip[:, :, SLOW_FRAMES], rtol=0, atol=0)
    torch.testing.assert_close(capture.inputs["s1.pathway1_stem"][0], ava_clip, rtol=0, atol=0)


def test_fusion_appends_conv_bn_relu_of_fast_after_slow(ava: nn.Module, ava_run: tuple[Tensor, Capture]) -> None:
    _, capture = ava_run
    slow, fast = capture.outputs["s1"]
    fuse = ava.s1_fuse
    lateral = F.conv3d(fast, fuse.conv_f2s.weight, stride=(4, 1, 1), padding=(3, 0, 0))
    expected = torch.cat([slow, F.relu(bn_eval(lateral, fuse.bn))], dim=1)
    slow_in, fast_in = capture.inputs["s2"][0]
    assert slow_in.shape[1] == 64 + 16
    torch.testing.assert_close(slow_in, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_in, fast, rtol=0, atol=0)


def test_res5_strides_and_dilations(ava_run: tuple[Tensor, Capture]) -> None:
    _, capture = ava_run
    slow, fast = capture.outputs["s5"]
    assert slow.shape == (2, 2048, 8, 4, 4) and fast.shape == (2, 256, 32, 4, 4)  # AVA: total stride 16
    for model, stride, dilation in ((slowfast_r50_pyslowfast_ava(), 1, 2), (slowfast_r50_pyslowfast_k400(), 2, 1)):
        for pathway in (0, 1):
            block0 = getattr(model.s5, f"pathway{pathway}_res0")
            assert block0.branch2.b.stride == (1, stride, stride)
            assert block0.branch2.b.dilation == (1, dilation, dilation)
            assert block0.branch2.b.padding == (0, dilation, dilation)
            assert block0.branch1.stride == (1, stride, stride)


def test_input_must_have_32_frames(ava: nn.Module) -> None:
    with pytest.raises(ValueError, match="32"):
        ava(torch.randn(1, 3, 16, 64, 64), torch.zeros(0, 5))


# ------------------------------------------------------------------------------- SlowFast AVA head


def roi_pooled(features: Tensor, boxes: Tensor) -> Tensor:
    """Temporal mean, RoIAlign 7x7 (1/16, adaptive, aligned), 7x7 max -> (K, C)."""
    x = roi_align(features.mean(dim=2), boxes, (7, 7), spatial_scale=1 / 16, sampling_ratio=0, aligned=True)
    return x.amax(dim=(2, 3))


def roi_head_by_hand(head: nn.Module, slow: Tensor, fast: Tensor, boxes: Tensor) -> Tensor:
    pooled = torch.cat([roi_pooled(slow, boxes), roi_pooled(fast, boxes)], dim=1)
    return torch.sigmoid(F.linear(pooled, head.projection.weight, head.projection.bias))


def test_ava_output_is_per_box_sigmoid_of_the_roi_head(
    ava: nn.Module, ava_boxes: Tensor, ava_run: tuple[Tensor, Capture]
) -> None:
    out, capture = ava_run
    assert out.shape == (4, 80) and out.dtype == torch.float32
    assert bool(((out > 0) & (out < 1)).all())
    slow, fast = capture.outputs["s5"]
    torch.testing.assert_close(out, roi_head_by_hand(ava.head, slow, fast, ava_boxes), rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_ava_classifier_input_is_slow_then_fast(
    ava: nn.Module, ava_boxes: Tensor, ava_run: tuple[Tensor, Capture]
) -> None:
    slow, fast = ava_run[1].outputs["s5"]
    head = ava.head
    saved = head.projection.weight.clone()
    try:
        head.projection.weight[:, :SLOW_CHANNELS] = 0  # keep only the columns that must see fast
        out = head(slow, fast, ava_boxes)
        out_other_slow = head(torch.randn_like(slow), fast, ava_boxes)
    finally:
        head.projection.weight.copy_(saved)
    expected = torch.sigmoid(roi_pooled(fast, ava_boxes) @ saved[:, SLOW_CHANNELS:].T + head.projection.bias)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_other_slow, out, rtol=0, atol=0)


@torch.no_grad()
def test_ava_boxes_follow_their_batch_index(
    ava: nn.Module, ava_boxes: Tensor, ava_run: tuple[Tensor, Capture]
) -> None:
    out, capture = ava_run
    slow, fast = capture.outputs["s5"]
    swapped_boxes = ava_boxes.clone()
    swapped_boxes[:, 0] = 1 - swapped_boxes[:, 0]
    torch.testing.assert_close(ava.head(slow.flip(0), fast.flip(0), swapped_boxes), out, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ava.head(slow, fast, swapped_boxes), out, rtol=1e-3, atol=1e-4)


@torch.no_grad()
def test_ava_handles_no_boxes_and_is_deterministic(ava: nn.Module, ava_clip: Tensor) -> None:
    small_clip = ava_clip[:, :, :, :32, :32]  # batch 2: CPU Conv3d at batch 1 takes a slow path
    box = torch.tensor([[1, 2.0, 3.0, 30.0, 28.0]])
    assert torch.equal(ava(small_clip, box), ava(small_clip, box))
    empty = ava(small_clip, torch.zeros(0, 5))
    assert empty.shape == (0, 80) and empty.dtype == torch.float32


@torch.no_grad()
def test_ava_sigmoid_also_in_train_mode(
    ava: nn.Module, ava_boxes: Tensor, ava_run: tuple[Tensor, Capture]
) -> None:
    out, capture = ava_run
    slow, fast = capture.outputs["s5"]
    ava.head.train()  # dropout active: values change, but they stay probabilities
    try:
        train_out = ava.head(slow, fast, ava_boxes)
        train_mode_without_batch_statistics(ava.head)
        train_out_without_dropout = ava.head(slow, fast, ava_boxes)
    finally:
        ava.eval()
    assert train_out.shape == (4, 80) and bool(((train_out > 0) & (train_out < 1)).all())
    torch.testing.assert_close(train_out_without_dropout, out, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
@torch.no_grad()
def test_ava_exports_with_standard_roialign_and_dynamic_box_count(
    ava: nn.Module, ava_clip: Tensor, ava_boxes: Tensor, ava_run: tuple[Tensor, Capture]
) -> None:
    out, capture = ava_run
    session, op_types = export_to_ort(ava, (ava_clip, ava_boxes), ["video", "boxes"])
    assert "RoiAlign" in op_types
    (got,) = session.run(None, {"video": ava_clip.numpy(), "boxes": ava_boxes.numpy()})
    np.testing.assert_allclose(got, out.numpy(), rtol=1e-4, atol=1e-5)
    one_box = torch.tensor([[1, 1.0, 2.0, 50.0, 60.0]])
    (one,) = session.run(None, {"video": ava_clip.numpy(), "boxes": one_box.numpy()})
    np.testing.assert_allclose(one, ava.head(*capture.outputs["s5"], one_box).numpy(), rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------------------- SlowFast Kinetics-400


def basic_head_by_hand(head: nn.Module, slow: Tensor, fast: Tensor) -> tuple[Tensor, Tensor]:
    """ResNetBasicHead: pools fixed by the train crop 224, per-position Linear, softmax, mean."""
    pooled = torch.cat(
        [F.avg_pool3d(slow, (8, 7, 7), stride=1), F.avg_pool3d(fast, (32, 7, 7), stride=1)], dim=1
    )
    logits = F.linear(pooled.permute(0, 2, 3, 4, 1), head.projection.weight, head.projection.bias)
    return torch.softmax(logits, dim=-1).mean(dim=(1, 2, 3)), logits


@pytest.fixture(scope="module")
def k400() -> nn.Module:
    torch.manual_seed(20)
    model = slowfast_r50_pyslowfast_k400().eval()
    with torch.no_grad():
        model.head.projection.weight.normal_(0, 0.05)
    return model


@torch.no_grad()
def test_k400_head_averages_softmax_over_2x2_positions_at_the_256_test_crop(k400: nn.Module) -> None:
    generator = torch.Generator().manual_seed(21)
    # res5 of a 256 x 256 clip; large values so that the four overlapping 7x7 windows disagree
    slow = 20 * torch.randn(2, 2048, 8, 8, 8, generator=generator)
    fast = 20 * torch.randn(2, 256, 32, 8, 8, generator=generator)
    out = k400.head(slow, fast)
    expected, logits = basic_head_by_hand(k400.head, slow, fast)
    assert logits.shape[1:4] == (1, 2, 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2))
    softmax_of_mean = torch.softmax(logits.mean(dim=(1, 2, 3)), dim=-1)
    assert not torch.allclose(out, softmax_of_mean, rtol=1e-3, atol=1e-6)


@torch.no_grad()
def test_k400_classifier_input_is_slow_then_fast(k400: nn.Module) -> None:
    generator = torch.Generator().manual_seed(22)
    slow = torch.rand(1, 2048, 8, 7, 7, generator=generator)
    fast = torch.rand(1, 256, 32, 7, 7, generator=generator)
    head = k400.head
    saved = head.projection.weight.clone()
    try:
        head.projection.weight[:, SLOW_CHANNELS:] = 0  # keep only the columns that must see slow
        out = head(slow, fast)
        out_other_fast = head(slow, torch.rand(1, 256, 32, 7, 7, generator=generator))
    finally:
        head.projection.weight.copy_(saved)
    logits = slow.mean(dim=(2, 3, 4)) @ saved[:, :SLOW_CHANNELS].T + head.projection.bias
    torch.testing.assert_close(out, torch.softmax(logits, dim=1), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out_other_fast, out, rtol=0, atol=0)


@torch.no_grad()
def test_k400_full_forward_probabilities_and_train_mode_logits(k400: nn.Module) -> None:
    clip = torch.randn(1, 3, 32, 193, 193, generator=torch.Generator().manual_seed(23))
    capture = Capture(k400, ["s1.pathway0_stem", "s5"])
    out = k400(clip)
    capture.close()
    slow, fast = capture.outputs["s5"]
    assert slow.shape == (1, 2048, 8, 7, 7) and fast.shape == (1, 256, 32, 7, 7)  # total stride 32
    slow_input = capture.inputs["s1.pathway0_stem"][0]
    torch.testing.assert_close(slow_input, clip[:, :, SLOW_FRAMES], rtol=0, atol=0)
    expected, logits = basic_head_by_hand(k400.head, slow, fast)
    assert out.shape == (1, 400) and out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-7)
    train_mode_without_batch_statistics(k400.head)
    try:
        train_out = k400.head(slow, fast)
    finally:
        k400.eval()
    torch.testing.assert_close(train_out, logits.flatten(1), rtol=1e-5, atol=1e-6)
