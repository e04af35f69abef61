"""Checkpoint containers, safe unpickling, Caffe2 name conversion and strict loading."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import caffe2_blob_map
from torch import nn

from actionzoo.checkpoint import (
    CheckpointFormat,
    caffe2_blob_to_key,
    check_fit,
    load_state_dict_strict,
    read_checkpoint,
)
from actionzoo.errors import CheckpointError


class Tiny(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        self.conv = nn.Conv3d(3, 2, 1, bias=False)
        self.bn = nn.BatchNorm3d(2)
        self.fc = nn.Linear(2, classes)


def _mmcv_meta() -> dict:
    # What mmcv's save_checkpoint and its hooks leave in ``meta``: numpy scalars among plain values.
    return {
        "mmcv_version": "1.3.1",
        "time": "Thu Jul 16 12:00:00 2020",
        "epoch": 256,
        "iter": np.int64(123456),
        "hook_msgs": {"best_score": np.float64(0.7694), "best_ckpt": "epoch_256.pth"},
        "config": "model = dict(type='Recognizer3D')",
    }


def test_mmaction2_container_with_numpy_meta_and_module_prefix(tmp: Path) -> None:
    model = Tiny()
    state = OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    path = tmp / "ckpt.pth"
    torch.save({"meta": _mmcv_meta(), "state_dict": state}, path)

    ckpt = read_checkpoint(path)
    assert ckpt.format is CheckpointFormat.MMACTION2
    assert list(ckpt.state_dict) == list(model.state_dict())
    assert ckpt.extras["meta"]["hook_msgs"]["best_score"] == pytest.approx(0.7694)


def test_legacy_serialization_with_numpy_1x_global_names(tmp: Path) -> None:
    # 2020-era files use torch's pre-1.6 format and numpy 1.x's ``numpy.core`` module names.
    model = Tiny()
    path = tmp / "legacy.pth"
    torch.save(
        {"meta": _mmcv_meta(), "state_dict": model.state_dict()},
        path,
        _use_new_zipfile_serialization=False,
    )
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))

    ckpt = read_checkpoint(path)
    assert ckpt.format is CheckpointFormat.MMACTION2
    assert int(ckpt.extras["meta"]["iter"]) == 123456
    torch.testing.assert_close(ckpt.state_dict["fc.weight"], model.fc.weight.detach())


def test_pyslowfast_container(tmp: Path) -> None:
    model = Tiny()
    path = tmp / "x3d.pyth"
    torch.save(
        {"epoch": 300, "model_state": model.state_dict(), "optimizer_state": {"state": {}},
         "cfg": "MODEL:\n  ARCH: x3d\n"},
        path,
    )
    ckpt = read_checkpoint(path)
    assert ckpt.format is CheckpointFormat.PYSLOWFAST
    assert ckpt.extras["epoch"] == 300
    assert set(ckpt.state_dict) == set(model.state_dict())


def test_bare_state_dict(tmp: Path) -> None:
    path = tmp / "bare.pt"
    torch.save(Tiny().state_dict(), path)
    assert read_checkpoint(path).format is CheckpointFormat.STATE_DICT


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_torch_file_that_would_run_code_is_refused_unless_trusted(tmp: Path) -> None:
    path = tmp / "evil.pth"
    torch.save({"state_dict": Tiny().state_dict(), "meta": {"x": _RunsCode()}}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refusing to unpickle.*system"):
        read_checkpoint(path)
    # The explicit opt-in loads it (and would run it: only for trusted files).
    assert read_checkpoint(path, trusted=True).format is CheckpointFormat.MMACTION2


def test_caffe2_pickle_that_would_run_code_is_refused(tmp: Path) -> None:
    path = tmp / "evil.pkl"
    with path.open("wb") as f:
        pickle.dump({"blobs": {"conv1_w": _RunsCode()}}, f, protocol=2)
    with pytest.raises(CheckpointError, match=r"evil\.pkl: refusing to unpickle .*system"):
        read_checkpoint(path)


def test_missing_empty_and_garbage_files(tmp: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        read_checkpoint(tmp / "absent.pth")
    (tmp / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(tmp / "empty.pth")
    (tmp / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="text.pth"):
        read_checkpoint(tmp / "text.pth")
    torch.save({"weights": [1, 2]}, tmp / "odd.pth")
    with pytest.raises(CheckpointError, match="not a known checkpoint container"):
        read_checkpoint(tmp / "odd.pth")


def test_caffe2_names_follow_pyslowfast_rules_for_every_slowfast_blob() -> None:
    rows = caffe2_blob_map()
    assert len(rows) == 552
    wrong = [(b, caffe2_blob_to_key(b), k) for b, k, _ in rows if caffe2_blob_to_key(b) != k]
    assert wrong == []


@pytest.mark.parametrize(
    ("blob", "key"),
    [
        ("res2_0_branch2a_w_momentum", "s2.pathway0_res0.branch2.a_w_momentum"),
        ("nonlocal_conv3_1_theta_w", "s3.pathway0_nonlocal1.conv_theta.weight"),
        ("res3_1_branch2b_bn_fc1_w", "s3.pathway0_res1.branch2.se.fc1.weight"),
        ("conv1_xy_w", "s1.pathway0_stem.conv_xy.weight"),
        ("conv_5_w", "head.conv_5.weight"),
        ("lin_5_w", "head.lin_5.weight"),
    ],
)
def test_caffe2_name_examples(blob: str, key: str) -> None:
    assert caffe2_blob_to_key(blob) == key


def test_caffe2_pickle_loads_python2_style(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    blobs = {
        "conv1_w": rng.standard_normal((64, 3, 1, 7, 7)).astype(np.float32),
        "res_conv1_bn_s": np.ones(64, np.float32),
        "res_conv1_bn_riv": np.full(64, 2.0, np.float32),
        "pred_w": rng.standard_normal((400, 2304)).astype(np.float32),
        "conv1_w_momentum": np.zeros((64, 3, 1, 7, 7), np.float32),
        "model_iter": 46000,
    }
    path = tmp / "SLOWFAST_8x8_R50.pkl"
    with path.open("wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)

    ckpt = read_checkpoint(path)
    assert ckpt.format is CheckpointFormat.CAFFE2
    assert sorted(ckpt.state_dict) == sorted([
        "s1.pathway0_stem.conv.weight",
        "s1.pathway0_stem.bn.weight",
        "s1.pathway0_stem.bn.running_var",
        "head.projection.weight",
    ])
    assert sorted(ckpt.ignored) == ["conv1_w_momentum", "model_iter"]
    np.testing.assert_array_equal(ckpt.state_dict["s1.pathway0_stem.conv.weight"].numpy(),
                                  blobs["conv1_w"])


def test_strict_load_reports_missing_unexpected_and_mismatched(tmp: Path) -> None:
    state = Tiny(classes=5).state_dict()
    del state["bn.weight"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp / "wrong.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(Tiny(classes=4), read_checkpoint(path), "tiny")
    message = str(info.value)
    assert "\n" not in message
    assert "wrong.pth: does not fit tiny" in message
    assert "1 missing keys: bn.weight" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "fc.weight [5, 2] vs model [4, 2]" in message


def test_strict_load_copies_weights_and_tolerates_absent_num_batches_tracked(tmp: Path) -> None:
    source = Tiny()
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
        source.bn.running_var.uniform_(0.5, 2.0)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp / "old.pth"
    torch.save({"state_dict": state}, path)
    target = Tiny()
    load_state_dict_strict(target, read_checkpoint(path), "tiny")
    for key, value in source.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(target.state_dict()[key], value)


def test_fc_blob_loads_into_1x1x1_conv() -> None:
    # PySlowFast appends trailing singleton dims when a Caffe2 blob has fewer dims than the param.
    report = check_fit({"w": (8, 4, 1, 1, 1)}, {"w": torch.zeros(8, 4)})
    assert report.fits
    report = check_fit({"w": (8, 4, 1, 1, 1)}, {"w": torch.zeros(4, 8)})
    assert not report.fits


def test_arrays_read_from_a_checkpoint_are_saved_again_as_plain_arrays(tmp: Path) -> None:
    """A numpy RNG state (an array inside a tuple) read back and saved in the next checkpoint
    must load again: what the reader built never writes its own class name into a file."""
    state = np.random.default_rng(0).bit_generator.state
    legacy = np.random.RandomState(0).get_state()  # ('MT19937', uint32 array, pos, ...)
    first = tmp / "first.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "rng": legacy, "pcg": state}, first)
    read = read_checkpoint(first).extras
    assert isinstance(read["rng"][1], np.ndarray)
    second = tmp / "second.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, **read}, second)
    again = read_checkpoint(second).extras
    np.testing.assert_array_equal(again["rng"][1], legacy[1])
    assert b"PickledArray" not in pickle.dumps(read["rng"])
