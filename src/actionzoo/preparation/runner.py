"""One video per task, in worker processes, each written atomically: the runner every
``actionzoo prepare`` step shares.

* **Atomic per video.** A job writes into ``.<name>.partial-<pid>`` beside its final folder; the
  runner renames it into place only when the job returned, so a folder that exists is complete.
  A kill -9 at any point leaves at most partial folders, which the next run removes and redoes.
* **Resumable.** A task whose final folder exists is skipped (a plain rerun and ``--resume`` alike);
  the reference's ``--resume`` compared source with output paths and never skipped anything.
* **Sharded.** ``--shard K/N`` (or torchrun's ``RANK`` / ``WORLD_SIZE``) keeps the tasks whose
  position in the sorted task list is ``K mod N``: N machines on one shared file system each do
  their part, without duplicates, and a final unsharded run confirms everything is complete.
* **Bad inputs go on.** A job that raises :class:`~actionzoo.errors.DataError` fails that video
  with a one-line reason; the others go on. The failures are written beside the output.

Workers start from the fork server of :mod:`actionzoo.runtime.workers` (forking a process whose
OpenCV pools have run deadlocks the child). Memory is bounded by the jobs, which stream frames.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actionzoo.errors import DataError, UsageError
from actionzoo.fileio.atomic import write_text_atomic

__all__ = ["Shard", "VideoTask", "TaskResult", "JobOutput", "PrepareSummary", "parse_shard", "resolve_shard",
           "run_tasks", "partial_folder"]

PARTIAL_MARK = ".partial-"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, tasks: Sequence[VideoTask]) -> list[VideoTask]:
        ordered = sorted(tasks, key=lambda task: task.key)
        return [task for i, task in enumerate(ordered) if i % self.count == self.index]


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with ``0 <= K < N`` -> :class:`Shard`."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 0/4 for the first of four shards") from None
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"--shard {text!r}: K must be in 0..N-1 and N at least 1")
    return Shard(index, count)


def resolve_shard(text: str | None, environ: dict[str, str] | None = None) -> Shard | None:
    """The shard from ``--shard``, else from torchrun's ``RANK`` / ``WORLD_SIZE``, else None."""
    if text:
        return parse_shard(text)
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return parse_shard(f"{env['RANK']}/{env['WORLD_SIZE']}")
    return None


@dataclass(frozen=True)
class VideoTask:
    """One source video and the folder its frames go to. ``key`` names it in reports."""

    key: str
    source: Path
    target: Path


@dataclass(frozen=True)
class TaskResult:
    key: str
    source: Path
    frames: int
    error: str | None
    seconds: float
    warning: str | None = None


@dataclass(frozen=True)
class JobOutput:
    """What a job may return instead of a plain frame count: the count plus a one-line warning
    (the video is complete by the reference's rule, but something about it deserves a look)."""

    frames: int
    warning: str


@dataclass
class PrepareSummary:
    """What a run did. ``failed`` holds ``(source, reason)``; ``failure_list`` is the file they
    were written to (None when nothing failed)."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    shard: Shard | None = None
    failure_list: Path | None = None
    notes: list[str] = field(default_factory=list)
    estimated_bytes: int | None = None  # set by a dry run, with ``frames`` the estimated frames

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        shard = f" (shard {self.shard})" if self.shard else ""
        rate = f", {self.frames / self.seconds:.0f} frames/s" if self.seconds > 0 and self.frames else ""
        warned = f" ({len(self.warnings)} with warnings)" if self.warnings else ""
        return (f"{self.total} videos{shard}: {self.done} done{warned}, {self.skipped} skipped (complete), "
                f"{len(self.failed)} failed; {self.frames} frames written in {self.seconds:.1f} s{rate}")


def partial_folder(target: Path) -> Path:
    """Where a job writes ``target`` before the rename (this process's own name)."""
    return target.parent / f".{target.name}{PARTIAL_MARK}{os.getpid()}"


def _remove_stale_partials(tasks: Iterable[VideoTask]) -> None:
    """Partial folders of these tasks left by a killed run (only this run's tasks: another shard's
    partial folders may be in use)."""
    for task in tasks:
        if task.target.parent.is_dir():
            for stale in task.target.parent.glob(f".{task.target.name}{PARTIAL_MARK}*"):
                shutil.rmtree(stale, ignore_errors=True)


Job = Callable[[VideoTask, Path], "int | JobOutput"]


def _run_one(job: Job, task: VideoTask) -> TaskResult:
    """Run ``job`` into a partial folder, rename it into place; a failure removes the folder."""
    start = time.perf_counter()
    partial = partial_folder(task.target)
    try:
        task.target.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        output = job(task, partial)
        frames, warning = (output.frames, output.warning) if isinstance(output, JobOutput) else (output, None)
        try:
            os.rename(partial, task.target)
        except OSError:
            if not task.target.is_dir():  # not "another run finished it first"
                raise
            shutil.rmtree(partial, ignore_errors=True)
        return TaskResult(task.key, task.source, frames, None, time.perf_counter() - start, warning)
    except DataError as error:
        shutil.rmtree(partial, ignore_errors=True)
        return TaskResult(task.key, task.source, 0, str(error), time.perf_counter() - start)
    except OSError as error:  # disk full, permissions: name the folder, go on with the others
        shutil.rmtree(partial, ignore_errors=True)
        reason = f"{task.target}: cannot write frames ({error.strerror or error})"
        return TaskResult(task.key, task.source, 0, reason, time.perf_counter() - start)
    except Exception as error:  # a decoder or codec error nobody foresaw: one video, not the run
        shutil.rmtree(partial, ignore_errors=True)
        first_line = (str(error).strip().splitlines() or [""])[0]
        reason = f"{task.source}: {type(error).__name__}: {first_line}"
        return TaskResult(task.key, task.source, 0, reason, time.perf_counter() - start)


class _Call:
    """A picklable ``task -> result`` for the pool (the job must be a module-level function)."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self, task: VideoTask) -> TaskResult:
        return _run_one(self.job, task)


def _init_worker() -> None:
    # The workers are the parallelism: one OpenCV thread each.
    import cv2

    cv2.setNumThreads(1)


def failure_list_path(out_root: Path, shard: Shard | None) -> Path:
    """``OUT.failed.txt`` beside ``OUT`` (one per shard, so that shards never write one file)."""
    out_root = out_root.resolve()
    suffix = f".shard{shard.index}of{shard.count}" if shard else ""
    return out_root.parent / f"{out_root.name}.failed{suffix}.txt"


def run_tasks(
    tasks: Sequence[VideoTask],
    job: Job,
    *,
    out_root: Path,
    workers: int = 0,
    shard: Shard | None = None,
    progress: bool = True,
    description: str = "prepare",
    log: Callable[[str], None] | None = None,
) -> PrepareSummary:
    """Run ``job`` for each task of this shard whose folder does not exist yet (see module doc)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    mine = shard.select(tasks) if shard else sorted(tasks, key=lambda task: task.key)
    todo = [task for task in mine if not task.target.is_dir()]
    summary = PrepareSummary(total=len(mine), skipped=len(mine) - len(todo), shard=shard)
    _remove_stale_partials(todo)
    start = time.perf_counter()
    from actionzoo.runtime.progress import ProgressDisplay

    with ProgressDisplay(len(todo), description, "videos", enabled=progress) as bar:
        for result in _results(todo, job, workers):
            summary.frames += result.frames
            if result.warning is not None:
                summary.warnings.append((str(result.source), result.warning))
                log(f"WARNING {result.warning}")
            if result.error is None:
                summary.done += 1
            else:
                summary.failed.append((str(result.source), result.error))
                log(f"FAILED {result.error}")
            elapsed = time.perf_counter() - start
            bar.advance(frames_per_s=summary.frames / elapsed if elapsed > 0 else 0.0)
    summary.seconds = time.perf_counter() - start
    failures = failure_list_path(out_root, shard)
    if summary.failed:
        lines = "".join(f"{source}\t{reason}\n" for source, reason in summary.failed)
        summary.failure_list = write_text_atomic(failures, lines)
    elif failures.exists():
        failures.unlink()  # a rerun that fixed everything leaves no stale list behind
    return summary


def _results(todo: list[VideoTask], job: Job, workers: int) -> Iterable[TaskResult]:
    if not todo:
        return
    call = _Call(job)
    if workers == 0:
        for task in todo:
            yield call(task)
        return
    from actionzoo.runtime.workers import worker_context

    context = worker_context(preload=["actionzoo.preparation.frames", "actionzoo.preparation.ava_frames"])
    with context.Pool(min(workers, len(todo)), initializer=_init_worker) as pool:
        # one video per task; unordered so that one long video does not hold the others back
        yield from pool.imap_unordered(call, todo, chunksize=1)
