"""Test views as a dataset: one video per item, every view of its protocol built from one decode.

Decode workers (``runtime.workers.load_in_workers``) build the items; evaluation, staged
preprocessing, INT8 calibration and drift measurement consume them. A file that cannot be read
becomes a failed item with its reason (``data.item_errors``), never the end of the run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.item_errors import attempt
from actionzoo.data.work_item import WorkItem
from actionzoo.zoo.protocols import Protocol

__all__ = ["ViewsDataset"]


class ViewsDataset(torch.utils.data.Dataset):
    """One video per item: all of its views under ``protocol``, built from one decode.

    ``records`` are (position, record) pairs, the position being what the item carries back;
    ``uint8``: views before normalisation, for an engine that normalises them itself;
    ``decode_threads``: the video decoder's threads (1: none; measured not to pay in ``eval`` on 2
    cores, where the model and the workers already take every core: docs/benchmarks.md)."""

    def __init__(self, records: Sequence[tuple[int, VideoRecord]], protocol: Protocol,
                 uint8: bool = False, decode_threads: int = 1) -> None:
        self.records = records
        self.protocol = protocol
        self.uint8 = uint8
        self.decode_threads = decode_threads

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> WorkItem:
        from actionzoo.data.decode import open_source
        from actionzoo.data.views import build_views

        position, record = self.records[i]
        start = time.perf_counter()
        opened = []

        def load() -> list:
            opened.append(open_source(record.path, num_frames=record.num_frames,
                                      threads=self.decode_threads))
            return list(build_views(opened[0], self.protocol, num_frames=record.num_frames,
                                    uint8=self.uint8))

        rows, error = attempt(record.path, load)  # a corrupt file ends this video, not the run
        total = time.perf_counter() - start
        decode = opened[0].read_seconds if opened else total
        return WorkItem(position, rows, error, decode, max(total - decode, 0.0))
