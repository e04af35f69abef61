"""The typed checkpoint record: it reads and writes exactly the layout training checkpoints have
always had under ``meta['actionzoo']`` (resume of existing files depends on it), restores the
generators it captured, and refuses a malformed record in one line naming the file."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from actionzoo.checkpoint import read_checkpoint
from actionzoo.checkpoint.read import CheckpointFormat
from actionzoo.checkpoint.write import actionzoo_state, checkpoint_payload, save_checkpoint
from actionzoo.errors import UsageError
from actionzoo.training.state import CheckpointRecord, RngStates
from actionzoo.training.validate import DetectionValidation, RecognitionValidation

PROTOCOL = "ascend: 1 clip × center crop 224 (scaled to 32), mean of softmax"


def _layout(within: bool) -> dict[str, object]:
    """actionzoo's state as the training loop has always written it, key order included."""
    return {
        "model": "slowfast_r50_8x8x1_k400",
        "num_classes": 4,
        "class_names": ["a", "b", "c", "d"],
        "epochs_done": 1,
        "iteration": 6 if within else 4,
        "plan": {"model": "slowfast_r50_8x8x1_k400", "batch_size": 2, "init": "scratch"},
        "scaler": None,
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                "torch": torch.get_rng_state()},
        "sampler_epoch": 1,
        "history": [{"epoch": 1, "loss": 1.38, "metric": "top1", "top1": 0.25, "top5": 1.0,
                     "mean_class_accuracy": 0.25, "videos": 4, "of": 4, "protocol": PROTOCOL,
                     "best": {"epoch": 1, "value": 0.25, "metric": "top1"}}],
        "best": {"epoch": 1, "value": 0.25, "metric": "top1"},
        "within_epoch": {"steps": 2, "losses": [1.5, 1.25], "world_size": 1,
                         "torch_rng": [torch.get_rng_state()]} if within else None,
    }


def _same(a: object, b: object) -> bool:
    """Equal key for key, in order; tensors and arrays exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("within", [False, True], ids=["epoch-end", "mid-epoch"])
@pytest.mark.parametrize("fmt", [CheckpointFormat.MMACTION2, CheckpointFormat.PYSLOWFAST])
def test_the_record_reads_and_writes_the_checkpoint_layout_unchanged(tmp_path: Path, within: bool,
                                                                     fmt: CheckpointFormat) -> None:
    ours = _layout(within)
    path = save_checkpoint(tmp_path / "last.pth", checkpoint_payload(
        fmt, {"w": torch.ones(2)}, {"state": {}, "param_groups": []}, epochs_done=1,
        iteration=ours["iteration"], seed=0, config=ours["plan"], ours=ours))
    stored = actionzoo_state(read_checkpoint(path).extras)  # through the weights-only reader
    record = CheckpointRecord.from_dict(path, stored)
    assert record.history[0].validation == RecognitionValidation(0.25, 1.0, 0.25, 4, 4, PROTOCOL)
    assert record.best.value == 0.25 and (record.within_epoch is not None) == within
    assert _same(record.to_dict(), stored)  # what resume reads is what the next write writes
    # ...and the record the loop builds writes exactly the layout above
    assert _same(CheckpointRecord.from_dict(path, ours).to_dict(), ours)


def test_a_detector_history_round_trips() -> None:
    entry = {"epoch": 5, "loss": 0.2, "metric": "mAP", "mAP": 0.31, "keyframes": 12,
             "protocol": "official; ActivityNet", "best": None}
    record = CheckpointRecord.from_dict("x.pyth", {**_layout(False), "history": [entry]})
    assert record.history[0].validation == DetectionValidation(0.31, 12, "official; ActivityNet")
    assert record.to_dict()["history"] == [entry]


def test_restoring_the_generators_replays_their_draws() -> None:
    states = RngStates.capture()
    drawn = (random.random(), np.random.rand(), torch.rand(1))
    # the file gives Python's state back with lists where tuples were
    again = RngStates.from_dict({"python": [states.python[0], list(states.python[1]), None],
                                 "numpy": list(states.numpy), "torch": states.torch})
    again.restore()
    assert (random.random(), np.random.rand()) == drawn[:2] and torch.equal(torch.rand(1), drawn[2])


@pytest.mark.parametrize("change", [
    {"epochs_done": "1"}, {"iteration": None}, {"history": [{"epoch": 1}]},
    {"within_epoch": {"steps": 2, "losses": [1.0], "world_size": 1, "torch_rng": ["x"]}},
    {"best": {"epoch": 1, "value": "high", "metric": "top1"}}, {"rng": {"torch": [1, 2]}},
], ids=["epochs", "iteration", "history", "within", "best", "rng"])
def test_a_malformed_record_is_refused_in_one_line_naming_the_file(change: dict) -> None:
    with pytest.raises(UsageError, match=r"^w/last\.pth: its actionzoo training state is malformed "
                                         r"\(.*\); cannot resume from it$") as error:
        CheckpointRecord.from_dict("w/last.pth", {**_layout(False), **change})
    assert "\n" not in str(error.value)
