"""Fused streaming evaluation: decode -> views -> engine batches -> video scores -> metrics.

Worker processes decode each video once and build all of its views from that one decode. The main
process packs views of consecutive videos into engine batches of exactly ``batch_size`` (the last
one zero-padded), combines each video's view outputs by the protocol's rule as soon as its last view
is scored, and commits the video to the results store. A bad video is recorded with its reason and
the run goes on.
"""

from __future__ import annotations

import collections
import math
import multiprocessing
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from actionzoo.data.annotations import VideoRecord
from actionzoo.engines.all import Engine
from actionzoo.errors import ActionZooError
from actionzoo.evaluation.metrics import ClassificationEvaluator
from actionzoo.zoo.protocols import Protocol
from actionzoo.evaluation.store import ResultsStore

__all__ = ["StageTimes", "EvalReport", "evaluate_records", "load_report", "write_predictions"]


@dataclass
class StageTimes:
    """Seconds spent per stage. decode/preprocess are summed over workers (CPU time of the data
    path); model, waiting and other split the main process's wall time."""

    decode: float = 0.0
    preprocess: float = 0.0
    model: float = 0.0
    waiting: float = 0.0
    other: float = 0.0
    wall: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    def timed(self, items: Iterator) -> Iterator:
        """Pass ``items`` through, charging the wait for each to ``waiting`` and the worker-side
        ``decode_s`` / ``preprocess_s`` each one carries to ``decode`` / ``preprocess``."""
        while True:
            start = time.perf_counter()
            item = next(items, None)
            self.waiting += time.perf_counter() - start
            if item is None:
                return
            self.decode += item.decode_s
            self.preprocess += item.preprocess_s
            yield item


@dataclass
class EvalReport:
    model: str
    protocol: str  # name: clips × crops × size, aggregation
    engine: str
    precision: str
    batch_size: int
    workers: int
    total: int
    scored: int
    failed: list[tuple[str, str]]  # (video id, reason)
    metrics: dict[str, float]
    times: StageTimes = field(default_factory=StageTimes)
    scored_this_run: int = 0
    interrupted: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "protocol": self.protocol,
            "engine": self.engine,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "workers": self.workers,
            "videos": {"total": self.total, "scored": self.scored, "failed": len(self.failed)},
            "metrics": self.metrics,
            "failed": [{"video": v, "reason": r} for v, r in self.failed],
            "times_s": self.times.to_dict(),
            "scored_this_run": self.scored_this_run,
            "interrupted": self.interrupted,
        }

    def _rows(self) -> list[tuple[str, str]]:
        m = self.metrics
        t = self.times

        def pct(x: float) -> str:
            return "–" if x is None or math.isnan(x) else f"{100 * x:.2f}"

        def share(x: float) -> str:
            return f"{x:.1f} s ({100 * x / t.wall:.0f}% of wall)" if t.wall > 0 else f"{x:.1f} s"

        rows = [
            ("model", self.model),
            ("protocol", self.protocol),
            ("engine", f"{self.engine}, precision {self.precision}"),
            ("batch / workers", f"{self.batch_size} views / {self.workers}"),
            ("videos", f"{self.scored} scored, {len(self.failed)} failed, of {self.total}"),
            ("top-1", pct(m.get("top1"))),
            ("top-5", pct(m.get("top5"))),
            ("mean class accuracy", pct(m.get("mean_class_accuracy"))),
            ("wall time (this run)", f"{t.wall:.1f} s for {self.scored_this_run} videos"),
            ("  model", share(t.model)),
            ("  waiting for data", share(t.waiting)),
            ("  other", share(t.other)),
            ("decode (workers)", f"{t.decode:.1f} s"),
            ("preprocess (workers)", f"{t.preprocess:.1f} s"),
        ]
        if self.interrupted:
            rows.append(("status", "interrupted: rerun with --resume to finish"))
        return rows

    def render_text(self) -> str:
        width = max(len(k) for k, _ in self._rows())
        lines = [f"{k.ljust(width)}  {v}" for k, v in self._rows()]
        for video, reason in self.failed:
            lines.append(f"FAILED {video}: {reason}")
        return "\n".join(lines)

    def render_markdown(self) -> str:
        lines = ["| | |", "|---|---|"]
        lines += [f"| {k.strip()} | {v} |" for k, v in self._rows()]
        if self.failed:
            lines += ["", "Failed videos:", ""]
            lines += [f"- `{video}`: {reason}" for video, reason in self.failed]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- workers


@dataclass
class _VideoItem:
    position: int
    views: torch.Tensor | None
    error: str | None
    decode_s: float
    preprocess_s: float


class _TimedSource:
    """Wraps a frame source to measure the time spent decoding, separately from view building."""

    def __init__(self, source: object) -> None:
        self._source = source
        self.seconds = 0.0

    @property
    def path(self) -> object:
        return self._source.path  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._source)  # type: ignore[arg-type]

    def read(self, indices: Sequence[int]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return self._source.read(indices)  # type: ignore[attr-defined]
        finally:
            self.seconds += time.perf_counter() - start


class _TimedVideo(_TimedSource):
    """A timed video file: also exposes the timestamps PySlowFast's sampling reads."""

    @property
    def timing(self) -> object:
        return self._source.timing  # type: ignore[attr-defined]


def _timed(source: object) -> _TimedSource:
    from actionzoo.data.decode import VideoFile

    return _TimedVideo(source) if isinstance(source, VideoFile) else _TimedSource(source)


class _ViewsDataset(torch.utils.data.Dataset):
    def __init__(self, records: Sequence[tuple[int, VideoRecord]], protocol: Protocol) -> None:
        self.records = records
        self.protocol = protocol

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> _VideoItem:
        from actionzoo.data.decode import open_source
        from actionzoo.data.views import build_views

        position, record = self.records[i]
        start = time.perf_counter()
        source = None
        try:
            source = _timed(open_source(record.path, num_frames=record.num_frames))
            views = build_views(source, self.protocol, num_frames=record.num_frames)
            error = None
        except ActionZooError as exc:
            views, error = None, str(exc)
        except Exception as exc:  # a decoder crash on a corrupt file must not end the run
            views, error = None, f"{record.path}: {type(exc).__name__}: {exc}"
        total = time.perf_counter() - start
        decode = source.seconds if source is not None else total
        return _VideoItem(position, views, error, decode, max(total - decode, 0.0))


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _identity(item: _VideoItem) -> _VideoItem:
    return item


def _items(
    records: Sequence[tuple[int, VideoRecord]], protocol: Protocol, workers: int
) -> Iterator[_VideoItem]:
    return load_in_workers(_ViewsDataset(records, protocol), workers)


def load_in_workers(dataset: torch.utils.data.Dataset, workers: int) -> Iterator:
    """``dataset``'s items in order, built by ``workers`` processes (in this one when 0)."""
    if workers == 0:
        for i in range(len(dataset)):  # type: ignore[arg-type]
            yield dataset[i]
        return
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        num_workers=workers,
        collate_fn=_identity,
        prefetch_factor=2,
        worker_init_fn=_worker_init,
        multiprocessing_context=_worker_context(),
    )
    yield from loader


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server, never by forking this process.

    Forking a process whose OpenMP/OpenCV thread pools have run deadlocks the child on a lock
    held by a thread that does not exist there (seen here: a worker stuck in cv2.setNumThreads).
    The fork server is a fresh process that imports the decode stack once; workers fork from it.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["actionzoo.data.views", "actionzoo.data.decode"])
    return context


# ------------------------------------------------------------------------------ main loop


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 0
        self.start = time.perf_counter()
        self._last = 0.0

    def advance(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.5 or self.done == self.total):
            self._last = now
            elapsed = now - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            eta_text = f"{eta:5.0f}s" if math.isfinite(eta) else "    ?"
            print(f"\r[{bar}] {self.done}/{self.total} videos  {rate:5.2f} videos/s  ETA {eta_text}",
                  end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


def evaluate_records(
    records: Sequence[VideoRecord],
    *,
    model_name: str,
    protocol: Protocol,
    engine: Engine,
    store: ResultsStore,
    batch_size: int,
    workers: int,
    progress: bool = True,
) -> EvalReport:
    """Score every record not yet in ``store`` and report metrics over everything stored."""
    done = store.done_ids()
    todo = [(i, r) for i, r in enumerate(records) if r.video_id not in done]
    times = StageTimes()
    bar = _Progress(len(todo), progress)
    pending: collections.deque[tuple[int, int, torch.Tensor]] = collections.deque()
    open_videos: dict[int, dict] = {}
    scored_now = 0
    interrupted = False
    wall_start = time.perf_counter()
    by_position = dict(todo)

    def finish(position: int) -> None:
        nonlocal scored_now
        state = open_videos.pop(position)
        record = by_position[position]
        score = protocol.aggregation.combine(np.stack(state["rows"]))
        store.record_success(record.video_id, position, str(record.path), record.label, score,
                             len(state["rows"]), state["decode"], state["preprocess"])
        scored_now += 1
        bar.advance()

    def run_batch(count: int) -> None:
        take = [pending.popleft() for _ in range(count)]
        batch = torch.stack([view for _, _, view in take])
        if count < batch_size:  # keep every engine call at exactly batch_size views
            pad = batch.new_zeros((batch_size - count, *batch.shape[1:]))
            batch = torch.cat([batch, pad])
        start = time.perf_counter()
        out = engine.run(batch.numpy())
        times.model += time.perf_counter() - start
        for (position, view_index, _), row in zip(take, out[:count]):
            state = open_videos[position]
            state["rows"][view_index] = np.asarray(row, dtype=np.float64)
            state["left"] -= 1
            if state["left"] == 0:
                finish(position)

    items = _items(todo, protocol, workers)
    try:
        for item in times.timed(items):
            record = by_position[item.position]
            if item.views is None:
                store.record_failure(record.video_id, item.position, str(record.path),
                                     record.label, item.error or "unknown error")
                bar.advance()
                continue
            views = item.views
            open_videos[item.position] = {
                "rows": [None] * len(views), "left": len(views),
                "decode": item.decode_s, "preprocess": item.preprocess_s,
            }
            pending.extend((item.position, v, views[v]) for v in range(len(views)))
            while len(pending) >= batch_size:
                run_batch(batch_size)
        while pending:
            run_batch(min(batch_size, len(pending)))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if isinstance(items, Iterator) and hasattr(items, "close"):
            items.close()
    times.wall = time.perf_counter() - wall_start
    times.other = max(times.wall - times.model - times.waiting, 0.0)
    report = load_report(store, records, model_name=model_name, protocol=protocol,
                         engine=engine.describe(), precision=engine.precision,
                         batch_size=batch_size, workers=workers)
    report.times = times
    report.scored_this_run = scored_now
    report.interrupted = interrupted
    return report


def load_report(
    store: ResultsStore,
    records: Sequence[VideoRecord] | None,
    *,
    model_name: str,
    protocol: Protocol,
    engine: str,
    precision: str,
    batch_size: int,
    workers: int,
) -> EvalReport:
    """Metrics over every video in the store (this run's and earlier runs')."""
    evaluator = ClassificationEvaluator()
    failed: list[tuple[str, str]] = []
    stored = 0
    for result in store.results():
        stored += 1
        if result.status == "ok" and result.scores is not None and result.label is not None:
            evaluator.process(result.video_id, result.scores, result.label)
        elif result.status == "failed":
            failed.append((result.video_id, result.reason or ""))
    return EvalReport(
        model=model_name,
        protocol=protocol.describe(),
        engine=engine,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        total=len(records) if records is not None else stored,
        scored=len(evaluator.labels),
        failed=failed,
        metrics=evaluator.evaluate(),
    )


def write_predictions(
    store: ResultsStore, out: str | Path, class_names: Sequence[str] | None = None, k: int = 5
) -> Path:
    """Per-video predictions as CSV: video, label, then the top-k classes with their scores."""
    import csv

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def name(c: int | None) -> str:
        if c is None:
            return ""
        return class_names[c] if class_names and 0 <= c < len(class_names) else str(c)

    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        header = ["video", "label", "status"]
        for i in range(1, k + 1):
            header += [f"top{i}", f"score{i}"]
        writer.writerow(header)
        for r in store.results():
            row = [r.video_id, name(r.label), r.status if r.status == "ok" else f"failed: {r.reason}"]
            if r.scores is not None:
                top = np.argsort(r.scores)[-k:][::-1]
                for c in top:
                    row += [name(int(c)), f"{r.scores[c]:.6g}"]
            writer.writerow(row)
    return out
