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
from actionzoo.data.item_errors import DATA_ERRORS, item_error
from actionzoo.data.work_item import WorkItem
from actionzoo.zoo.protocols import Protocol

__all__ = ["ViewsDataset"]


class ViewsDataset(torch.utils.data.Dataset):
    """One video per item: all of its views under ``protocol``, built from one decode.

    ``records`` are (position, record) pairs, the position being what the item carries back;
    ``uint8``: views before normalisation, for an engine that normalises them itself."""

    def __init__(self, records: Sequence[tuple[int, VideoRecord]], protocol: Protocol,
                 uint8: bool = False) -> None:
        self.records = records
        self.protocol = protocol
        self.uint8 = uint8

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> WorkItem:
        from actionzoo.data.decode import open_source
        from actionzoo.data.views import build_views

        position, record = self.records[i]
        start = time.perf_counter()
        source = None
        try:
            source = open_source(record.path, num_frames=record.num_frames)
            views = build_views(source, self.protocol, num_frames=record.num_frames,
                                uint8=self.uint8)
            rows, error = list(views), None
        except DATA_ERRORS as exc:  # a corrupt file ends this video, not the run
            rows, error = None, item_error(record.path, exc)
        total = time.perf_counter() - start
        decode = source.read_seconds if source is not None else total
        return WorkItem(position, rows, error, decode, max(total - decode, 0.0))
