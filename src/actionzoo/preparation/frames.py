"""Raw frames as mmaction2's ``build_rawframes.py --task rgb --use-opencv`` writes them.

The rules (mmaction2 ``tools/data/build_rawframes.py``, ``extract_frame`` with ``use_opencv``;
mmcv ``VideoReader``, ``imresize``, ``imwrite``):

* videos are ``glob(SRC + '/*' * level + '.' + ext)``; each goes to ``OUT/<path without ext>``,
  so level 2 keeps the class folder (``OUT/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01/``);
* frames are read with ``cv2.VideoCapture`` for ``CAP_PROP_FRAME_COUNT`` frames, BGR as OpenCV
  reads them (a read that fails early stops the reference with "Length inconsistent!");
* ``--new-short S``: the short side becomes S and the long side ``int(S / short * long)``
  (truncated); ``--new-width W --new-height H``: exactly W x H; both bilinear (``cv2.INTER_LINEAR``);
* ``cv2.imwrite(f'{out}/img_{i + 1:05d}.jpg', frame)``: OpenCV's default JPEG quality, 95.

OpenCV itself decodes, resizes and encodes, so names, counts and bytes are the reference's for the
same OpenCV build. Measured here (``docs/benchmarks.md``): simplejpeg at quality 95 does not give
cv2's bytes, so the encoder stays cv2's. What can be faster is where it runs: a thread reads ahead,
and the cores that the worker processes leave spare resize and encode frames side by side (OpenCV
releases the GIL in both); the reference runs one frame at a time per worker.

One difference on purpose: an MP4, MOV or AVI that decodes fewer frames than its index states is
a failure ("truncated or corrupt"), where the reference keeps the frames it got with a warning
("Length inconsistent!"); a truncated download must be named, not look complete. Matroska / WebM
(Something-Something V2) have no frame index, OpenCV's count is an estimate from the duration, and
there the reference's rule holds: the frames that decode are kept, with a warning line.
"""

from __future__ import annotations

import collections
import functools
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from actionzoo.errors import DataError, UsageError
from actionzoo.preparation.probe import explain_unreadable
from actionzoo.preparation.runner import JobOutput, PrepareSummary, Shard, VideoTask, run_tasks
from actionzoo.runtime.tuning import available_cores

__all__ = ["Resize", "find_videos", "frame_tasks", "extract_frames", "resized_size", "encode_threads",
           "prepare_frames"]


@dataclass(frozen=True)
class Resize:
    """``short`` (the short side) or ``width`` x ``height``; all None keeps the size."""

    short: int | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if self.short is not None and (self.width or self.height):
            raise UsageError("give --new-short or --new-width/--new-height, not both")
        if self.short is not None and self.short < 1:
            raise UsageError(f"--new-short must be at least 1, got {self.short}")
        if (self.width is None) != (self.height is None):
            raise UsageError("--new-width and --new-height go together")
        if self.width is not None and (self.width < 1 or self.height < 1):
            raise UsageError(f"--new-width/--new-height must be at least 1, got {self.width}x{self.height}")

    @property
    def active(self) -> bool:
        return self.short is not None or self.width is not None


def resized_size(height: int, width: int, resize: Resize) -> tuple[int, int]:
    """(height, width) after the reference's resize rule (unchanged when no resize is asked)."""
    if resize.short is not None:
        # mmaction2 names the shape ``w, h`` and passes ``(new_h, new_w)`` to imresize(w, h):
        # the two swaps cancel, leaving the plain short-side rule with int() truncation.
        if height < width:
            return resize.short, int(resize.short / height * width)
        return int(resize.short / width * height), resize.short
    if resize.width is not None:
        return resize.height, resize.width
    return height, width


def find_videos(src: Path, level: int, ext: str) -> list[Path]:
    """``glob(src + '/*' * level + '.' + ext)``, sorted (the reference keeps glob's order)."""
    if level not in (1, 2):
        raise UsageError(f"--level must be 1 or 2, got {level}")
    if not src.is_dir():
        raise UsageError(f"{src}: no such source folder")
    pattern = "/".join(["*"] * level) + "." + ext.lstrip(".")
    return sorted(path for path in src.glob(pattern) if path.is_file())


def frame_tasks(src: Path, out: Path, level: int, ext: str) -> list[VideoTask]:
    tasks = []
    for video in find_videos(src, level, ext):
        relative = video.relative_to(src).with_suffix("")
        tasks.append(VideoTask(relative.as_posix(), video, out / relative))
    return tasks


def _open_capture(path: Path) -> tuple[cv2.VideoCapture, int]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(explain_unreadable(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if count <= 0:
        capture.release()
        raise DataError(f"{path}: the video has no frames (the container states {count})")
    return capture, count


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == size:
        return frame  # cv2.resize to the same size copies; the pixels are the same
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


class _ReadAhead:
    """Frames read by a thread while this one resizes and encodes: OpenCV releases the GIL in
    ``read`` and ``imwrite``, so decoding overlaps encoding. At most ``depth`` frames wait
    (memory stays bounded: 4 frames of 1080p are 25 MB). ``None`` marks a failed read."""

    def __init__(self, capture: cv2.VideoCapture, count: int, depth: int = 4):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(capture, count), daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, capture: cv2.VideoCapture, count: int) -> None:
        for _ in range(count):
            ok, frame = capture.read()
            if not self._put(frame if ok else None) or not ok:
                return

    def __iter__(self) -> Iterator[np.ndarray | None]:
        while True:
            yield self._queue.get()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


#: One decoding thread feeds only a few encoders: a 720p H.264 frame decoded in 2.6 ms and its
#: JPEG took 3.4 ms (docs/benchmarks.md); more threads would only hold more frames in memory.
MAX_ENCODE_THREADS = 4


def encode_threads(workers: int) -> int:
    """Threads that resize and encode each worker's frames: the cores the ``workers`` processes
    leave spare (one process when ``workers`` is 0), at least one, at most MAX_ENCODE_THREADS."""
    return max(1, min(MAX_ENCODE_THREADS, available_cores() // max(1, workers)))


def _write_frame(path: Path, frame: np.ndarray, size: tuple[int, int] | None) -> None:
    if size is not None:
        frame = _resize(frame, size)
    if not cv2.imwrite(str(path), frame):
        raise OSError(f"OpenCV could not write {path}")


class _FrameWriter:
    """Frames resized and written on ``threads`` threads, at most two per thread in flight (memory
    stays bounded); the first failed write is raised by the next :meth:`write` or by :meth:`finish`.
    One thread writes in the caller's thread, as the reference does."""

    def __init__(self, threads: int):
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="jpeg") if threads > 1 else None
        self._pending: collections.deque[Future] = collections.deque()
        self._limit = 2 * threads

    def write(self, path: Path, frame: np.ndarray, size: tuple[int, int] | None) -> None:
        if self._pool is None:
            _write_frame(path, frame, size)
            return
        while len(self._pending) >= self._limit:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(_write_frame, path, frame, size))

    def finish(self) -> None:
        """Wait for every write; raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Stop: writes not started are dropped, running ones end before this returns, so nothing
        lands in the folder after the job has returned (the runner then renames or removes it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _count_is_estimated(path: Path) -> bool:
    """Matroska / WebM carry no frame count: OpenCV estimates it from duration x frame rate, so a
    shortfall there is normal (the reference keeps what decodes). MP4, MOV and AVI index every
    frame: a shortfall there is a truncated or corrupt file."""
    try:
        with av.open(str(path)) as container:
            return bool({"matroska", "webm"} & set(container.format.name.split(",")))
    except (av.FFmpegError, OSError):
        return False


def extract_frames(task: VideoTask, folder: Path, resize: Resize = Resize(),
                   threads: int = 1) -> int | JobOutput:
    """Write the frames of ``task.source`` into ``folder`` as ``img_00001.jpg...``; the count.
    ``threads`` resize and encode (the bytes are the same for any count)."""
    capture, count = _open_capture(task.source)
    frames = _ReadAhead(capture, count)
    writer = _FrameWriter(threads)
    try:
        for i, frame in zip(range(count), frames):
            if frame is None:
                if i == 0:
                    raise DataError(f"{task.source}: no frame decodes (corrupt video data)")
                if not _count_is_estimated(task.source):
                    raise DataError(f"{task.source}: truncated or corrupt: the container states {count} "
                                    f"frames, only {i} decode")
                writer.finish()
                return JobOutput(i, f"{task.source}: OpenCV estimated {count} frames from the duration, "
                                    f"{i} decode; kept {i}, as the reference does (\"Length inconsistent!\")")
            size = resized_size(frame.shape[0], frame.shape[1], resize) if resize.active else None
            writer.write(folder / f"img_{i + 1:05d}.jpg", frame, size)
        writer.finish()
    finally:
        writer.close()
        frames.close()  # the reader stops before the capture it reads is released
        capture.release()
    return count


def estimate_frames(path: Path) -> int:
    """The container's frame count as OpenCV states it (0 when it cannot open the file)."""
    capture = cv2.VideoCapture(str(path))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))) if capture.isOpened() else 0
    finally:
        capture.release()


def sample_jpeg_bytes(path: Path, resize: Resize) -> int | None:
    """Bytes of the first frame of ``path`` as it would be written (None when it does not decode)."""
    capture = cv2.VideoCapture(str(path))
    try:
        ok, frame = capture.read() if capture.isOpened() else (False, None)
    finally:
        capture.release()
    if not ok or frame is None:
        return None
    if resize.active:
        frame = _resize(frame, resized_size(frame.shape[0], frame.shape[1], resize))
    ok, data = cv2.imencode(".jpg", frame)
    return len(data) if ok else None


def prepare_frames(
    src: str | Path,
    out: str | Path,
    *,
    level: int = 2,
    ext: str = "avi",
    new_short: int | None = None,
    new_width: int | None = None,
    new_height: int | None = None,
    workers: int = 0,
    shard: Shard | str | None = None,
    dry_run: bool = False,
    progress: bool = True,
    threads: int | None = None,
) -> PrepareSummary:
    """Extract every video's frames as mmaction2's ``build_rawframes.py --use-opencv`` does.

    Complete video folders are skipped (resumable); ``shard`` is a :class:`Shard`, ``"K/N"``, or
    None for torchrun's ``RANK`` / ``WORLD_SIZE`` when they are set (else everything);
    ``dry_run`` writes nothing and returns a summary whose ``notes`` hold the estimate.
    ``threads``: resize-and-encode threads per worker; None: the cores the workers leave spare.
    """
    from actionzoo.preparation.estimate import estimate_run
    from actionzoo.preparation.runner import resolve_shard

    src, out = Path(src), Path(out)
    resize = Resize(new_short, new_width, new_height)
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    tasks = frame_tasks(src, out, level, ext)
    if not tasks:
        raise UsageError(f"{src}: no videos match {'/'.join(['*'] * level)}.{ext.lstrip('.')} "
                         "(check --level and --ext)")
    shard = resolve_shard(shard) if not isinstance(shard, Shard) else shard
    if dry_run:
        return estimate_run(tasks, shard, estimate_frames, lambda path: sample_jpeg_bytes(path, resize))
    job = functools.partial(extract_frames, resize=resize,
                            threads=encode_threads(workers) if threads is None else threads)
    return run_tasks(tasks, job, out_root=out, workers=workers, shard=shard, progress=progress,
                     description="frames")
