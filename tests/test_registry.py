"""The registry: names, metadata consistent with the architectures, build_model, inspect, CLI."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import random_state
from torch.utils.flop_counter import FlopCounterMode

import actionzoo
from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.cli import main
from actionzoo.errors import CheckpointError, UsageError
from actionzoo.zoo.inspect import inspect_checkpoint
from actionzoo.zoo.registry import get_model_spec

# The four recognizers of the vendor guides, each with its official and its Ascend protocol.
NAMES = ["slowfast_r50_8x8x1_k400", "x3d_s_k400", "r2plus1d_r34_8x8x1_ucf101", "tsm_r50_1x1x8_sthv2"]
PYSLOWFAST_EXTRA = ["slowfast_r50_8x8_k400_pyslowfast", "slowfast_r50_ava"]


def test_the_zoo_is_listed_in_order() -> None:
    assert actionzoo.list_models() == NAMES + PYSLOWFAST_EXTRA
    assert [n for n in actionzoo.list_models() if get_model_spec(n).task == "detection"] == [
        "slowfast_r50_ava"]


@pytest.mark.slow
@pytest.mark.parametrize("name", actionzoo.list_models())
def test_metadata_matches_the_architecture(name: str) -> None:
    spec = get_model_spec(name)
    if spec.task == "detection":
        model = spec.builder(spec.num_classes).eval()  # RoIAlign needs real box values
        inputs = (torch.zeros(1, *spec.clip_shape), torch.tensor([[0.0, 8.0, 8.0, 120.0, 200.0]]))
        grad = torch.no_grad()
    else:
        with torch.device("meta"):
            model = spec.builder(spec.num_classes).eval()
        inputs = (torch.empty(1, *spec.clip_shape, device="meta"),)
        grad = torch.no_grad()
    with grad, FlopCounterMode(display=False) as counter:
        out = model(*inputs)
    assert sum(p.numel() for p in model.parameters()) == spec.num_params
    assert counter.get_total_flops() / 2e9 == pytest.approx(spec.gmacs, abs=0.01)
    assert tuple(out.shape) == (1, spec.num_classes)
    assert set(spec.protocols) == ({"official", "ascend"} if name in NAMES else {"official"})
    for acc in spec.accuracy:
        # every accuracy names the protocol (views and score rule) it was measured under
        assert "×" in acc.protocol and any(p.describe() == acc.protocol for p in spec.protocols.values())


def test_unknown_model_and_protocol_are_clear_errors() -> None:
    with pytest.raises(UsageError, match="unknown model 'nope'; choose from slowfast"):
        actionzoo.build_model("nope")
    with pytest.raises(UsageError, match="no protocol 'fast'"):
        get_model_spec("x3d_s_k400").protocol("fast")


def test_build_model_loads_an_x3d_pyth_and_is_deterministic(tmp: Path) -> None:
    path = tmp / "x3d_s.pyth"
    state = random_state("x3d_s_k400")
    torch.save({"epoch": 300, "model_state": state, "optimizer_state": {}, "cfg": "X3D: {}"}, path)
    model = actionzoo.build_model("x3d_s_k400", path)
    assert not model.training
    torch.testing.assert_close(model.state_dict()["head.projection.weight"],
                               state["head.projection.weight"])
    x = torch.randn(2, 3, 13, 160, 160)
    with torch.no_grad():
        a, b = model(x), model(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a.sum(1), torch.ones(2))  # probabilities


def test_r2plus1d_takes_its_class_count_from_the_checkpoint(tmp: Path) -> None:
    path = tmp / "ucf.pth"
    torch.save({"meta": {"epoch": np.int64(35)}, "state_dict": random_state(
        "r2plus1d_r34_8x8x1_ucf101", num_classes=101)}, path)
    model = actionzoo.build_model("r2plus1d_r34_8x8x1_ucf101", path)
    assert model.state_dict()["cls_head.fc_cls.weight"].shape == (101, 512)


def test_wrong_checkpoint_gives_one_clear_error(tmp: Path) -> None:
    path = tmp / "tsm.pth"
    torch.save({"state_dict": random_state("tsm_r50_1x1x8_sthv2")}, path)
    with pytest.raises(CheckpointError) as info:
        actionzoo.build_model("slowfast_r50_8x8x1_k400", path)
    text = str(info.value)
    assert text.startswith(f"{path}: does not fit slowfast_r50_8x8x1_k400")
    assert "missing keys: backbone.slow_path" in text and "unexpected keys" in text


@pytest.mark.parametrize("name", actionzoo.list_models())
def test_inspect_recognises_each_format(tmp: Path, name: str) -> None:
    spec = get_model_spec(name)
    state = random_state(name)
    if CheckpointFormat.PYSLOWFAST in spec.checkpoint_formats:
        path, payload = tmp / "w.pyth", {"epoch": 1, "model_state": state}
    else:
        state = OrderedDict(("module." + k, v) for k, v in state.items())
        path, payload = tmp / "w.pth", {"meta": {"best": np.float64(1.0)}, "state_dict": state}
    torch.save(payload, path)
    info = inspect_checkpoint(path)
    assert info.format in spec.checkpoint_formats
    assert info.matching == [name]
    assert main(["inspect", str(path)]) == 0


def test_cli_models_and_inspect_errors(tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert "10 clips × 3 crops × 256" in out
    torch.save({"state_dict": {"foo.weight": torch.zeros(3)}}, tmp / "foo.pth")
    assert main(["inspect", str(tmp / "foo.pth")]) == 1
    assert "does not fit" in capsys.readouterr().out
    assert main(["inspect", str(tmp / "absent.pth")]) == 2
    assert capsys.readouterr().err.strip() == f"actionzoo: error: {tmp / 'absent.pth'}: no such checkpoint file"


def _write_caffe2_pkl(path: Path, num_classes: int = 400) -> dict[str, np.ndarray]:
    """SLOWFAST_8x8_R50.pkl as Caffe2 wrote it: a protocol-2 pickle of {'blobs': {name: array}}."""
    import pickle

    from conftest import caffe2_blob_map

    rng = np.random.default_rng(0)
    blobs: dict[str, object] = {}
    for blob, _key, shape in caffe2_blob_map():
        if blob.startswith("pred_"):
            shape = (num_classes, *shape[1:])
        value = rng.standard_normal(shape).astype(np.float32) * 0.05
        if blob.endswith("_riv"):
            value = np.abs(value) + 0.5
        blobs[blob] = value
        if blob.endswith("_w"):
            blobs[blob + "_momentum"] = np.zeros(shape, np.float32)  # optimizer state
    blobs["model_iter"] = 46000
    with path.open("wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    return blobs  # type: ignore[return-value]


@pytest.mark.slow
def test_caffe2_pkl_loads_into_the_pyslowfast_kinetics_slowfast(tmp: Path) -> None:
    path = tmp / "SLOWFAST_8x8_R50.pkl"
    blobs = _write_caffe2_pkl(path)
    model = actionzoo.build_model("slowfast_r50_8x8_k400_pyslowfast", path)
    state = model.state_dict()
    np.testing.assert_array_equal(state["s1_fuse.conv_f2s.weight"].numpy(), blobs["t_pool1_subsample_w"])
    np.testing.assert_array_equal(state["head.projection.weight"].numpy(), blobs["pred_w"])
    np.testing.assert_array_equal(state["s5.pathway1_res2.branch2.c_bn.running_var"].numpy(),
                                  blobs["t_res5_2_branch2c_bn_riv"])
    info = inspect_checkpoint(path)
    assert info.format.value == "caffe2"
    assert info.matching == ["slowfast_r50_8x8_k400_pyslowfast"]
    assert len(info.ignored) == 1 + sum(b.endswith("_momentum") for b in blobs)
    ava = next(f for f in info.fits if f.model == "slowfast_r50_ava")
    assert [m[0] for m in ava.report.mismatched] == ["head.projection.weight", "head.projection.bias"]


@pytest.mark.slow
def test_kinetics_caffe2_weights_initialise_the_ava_backbone(tmp: Path) -> None:
    path = tmp / "SLOWFAST_8x8_R50.pkl"
    blobs = _write_caffe2_pkl(path)
    with pytest.raises(CheckpointError, match="head.projection.weight \\[400, 2304\\] vs model \\[80, 2304\\]"):
        actionzoo.build_model("slowfast_r50_ava", path)
    torch.manual_seed(0)
    detector = actionzoo.build_model("slowfast_r50_ava", path, backbone_only=True)
    state = detector.state_dict()
    np.testing.assert_array_equal(state["s2.pathway0_res0.branch2.a.weight"].numpy(),
                                  blobs["res2_0_branch2a_w"])
    assert state["head.projection.weight"].shape == (80, 2304)  # its own, untouched head


@pytest.mark.slow
def test_caffe2_pkl_ava_detector_loads_as_pyslowfast_ships_it(tmp: Path) -> None:
    """PySlowFast's AVA model zoo ships Caffe2 .pkl detectors: 80 rows in pred_w."""
    path = tmp / "SLOWFAST_32x2_R50_AVA.pkl"
    blobs = _write_caffe2_pkl(path, num_classes=80)
    detector = actionzoo.build_model("slowfast_r50_ava", path)
    state = detector.state_dict()
    np.testing.assert_array_equal(state["head.projection.weight"].numpy(), blobs["pred_w"])
    np.testing.assert_array_equal(state["s1_fuse.conv_f2s.weight"].numpy(), blobs["t_pool1_subsample_w"])
    info = inspect_checkpoint(path)
    assert info.format.value == "caffe2" and info.matching == ["slowfast_r50_ava"]


def test_build_model_and_inspect_apply_one_container_rule(tmp: Path) -> None:
    # X3D's keys in an mmaction2 container: the keys fit, the registry does not list the container.
    path = tmp / "x3d_as_mmaction2.pth"
    torch.save({"meta": {}, "state_dict": random_state("x3d_s_k400")}, path)
    info = inspect_checkpoint(path)
    fit = next(f for f in info.fits if f.model == "x3d_s_k400")
    assert fit.report.fits and not fit.format_accepted and info.matching == []
    with pytest.raises(CheckpointError, match="a mmaction2 file; x3d_s_k400 loads pyslowfast"):
        actionzoo.build_model("x3d_s_k400", path)
