"""An item built in this process (``--workers 0``) is the same bytes as one a decode worker
builds, whatever this process's thread count: training clips, and views to score. The X3D-S
train clips are the case that differed: their decode-size resize rounds to uint8, and torch's
vectorised bilinear resize splits its work by thread."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import actionzoo
from actionzoo.data.annotations import VideoRecord
from actionzoo.data.views_dataset import ViewsDataset
from actionzoo.runtime.workers import BuiltAsInAWorker, load_in_workers
from actionzoo.training.data import RecognitionTrainSet


def _records(videos: Path) -> list[VideoRecord]:
    lines = (videos / "small.txt").read_text().splitlines()[:3]
    return [VideoRecord(path=videos / line.split()[0], label=int(line.split()[1]),
                        video_id=line.split()[0]) for line in lines]


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what the main process of a 2-core machine runs with
    yield
    torch.set_num_threads(before)


def _in_a_worker(dataset) -> list:
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=1,
                                         collate_fn=lambda item: item)
    return list(loader)


def test_training_clips_built_here_equal_a_workers(train_videos: Path, two_threads) -> None:
    pipeline = actionzoo.get_model_spec("x3d_s_k400").recipe.pipeline
    assert pipeline.decode_short_side  # the resize that rounds to uint8
    dataset = RecognitionTrainSet(_records(train_videos), pipeline, seed=3)
    here = [BuiltAsInAWorker(dataset)[i] for i in range(len(dataset))]
    assert torch.get_num_threads() == 2  # restored after each item
    for ours, theirs in zip(here, _in_a_worker(dataset), strict=True):
        assert ours.error is None and torch.equal(ours.clip, theirs.clip), ours.name


def test_views_built_here_equal_a_workers(train_videos: Path, two_threads) -> None:
    protocol = actionzoo.get_model_spec("x3d_s_k400").protocol("official")
    dataset = ViewsDataset(list(enumerate(_records(train_videos))), protocol)
    here, there = list(load_in_workers(dataset, 0)), list(load_in_workers(dataset, 1))
    assert torch.get_num_threads() == 2
    for ours, theirs in zip(here, there, strict=True):
        assert ours.error is None and len(ours.rows) == len(theirs.rows) == 30
        for a, b in zip(ours.rows, theirs.rows, strict=True):
            assert a.dtype == torch.float32 and torch.equal(a, b)
