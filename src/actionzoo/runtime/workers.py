"""Decode workers: dataset items built in other processes, handed back in order.

Workers start from a fork server, never by forking this process: forking a process whose
OpenMP/OpenCV thread pools have run deadlocks the child on a lock held by a thread that does not
exist there (seen here: a worker stuck in ``cv2.setNumThreads``). The fork server is a fresh process
that imports the decode stack once; workers fork from it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["load_in_workers", "worker_context", "limit_worker_threads", "one_thread",
           "BuiltAsInAWorker"]

# What the fork server imports once, so that each worker starts with the decode stack loaded.
_PRELOAD = ["actionzoo.data.views", "actionzoo.data.decode"]


def limit_worker_threads(_: int = 0) -> None:
    """One thread per library in each worker: the workers are the parallelism."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


@contextmanager
def one_thread() -> Iterator[None]:
    """This process's libraries on one thread, as in every worker (:func:`limit_worker_threads`),
    while an item is built here: the item is then the same bytes whichever process built it.

    A float op's result can depend on how many threads split it. torch's vectorised bilinear
    resize computes each chunk's tail elements another way, so a pixel can move by one ulp, and
    rounding it to uint8 can move it by one level (measured: X3D-S train clips at 1 and 2 threads
    differed by one level in places, and two training runs by 2.7e-2 after two steps)."""
    import cv2

    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    if torch_threads == 1 and cv2_threads == 1:
        yield
        return
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


class BuiltAsInAWorker(torch.utils.data.Dataset):
    """``dataset`` whose items are built under :func:`one_thread`: what a ``DataLoader`` without
    workers reads, so that its items equal the ones its workers would build."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> object:
        with one_thread():
            return self.dataset[index]


def _identity(item: object) -> object:
    return item


def worker_context(preload: list[str] | None = None) -> multiprocessing.context.BaseContext:
    """The fork-server context; ``preload``: the modules its server imports (default: decoding
    and views; dataset preparation preloads its own, lighter, modules)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD if preload is None else preload)
    return context


def load_in_workers(dataset: torch.utils.data.Dataset, workers: int) -> Iterator:
    """``dataset``'s items in order, built by ``workers`` processes (in this one when 0)."""
    if workers == 0:
        for i in range(len(dataset)):  # type: ignore[arg-type]
            with one_thread():
                item = dataset[i]
            yield item
        return
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        collate_fn=_identity,
        prefetch_factor=2,
        worker_init_fn=limit_worker_threads,
        multiprocessing_context=worker_context(),
    )
    yield from loader
