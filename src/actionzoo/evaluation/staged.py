"""The vendor guides' staged flow: preprocess to files -> infer files -> post-process to accuracy.

``preprocess_dataset`` writes one ``.npy`` model input (V, 3, T, H, W) per video plus ``index.csv``
(file, video id, label, views, status); ``infer_directory`` runs an engine over those files and
writes one ``.npy`` of per-view outputs (V, K) per input, as the guides' benchmark tool does;
``postprocess`` combines view outputs by the protocol's rule and computes accuracy. Every stage
appends to its index as it goes and skips finished files when run again, so an interrupted stage
loses nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actionzoo.data.annotations import VideoRecord
from actionzoo.data.work_item import Status, WorkItem
from actionzoo.engines import Engine
from actionzoo.engines.batches import run_views
from actionzoo.errors import UsageError
from actionzoo.evaluation.evaluator import TopKEvaluator
from actionzoo.engines.video_scores import view_items
from actionzoo.evaluation.store import VideoResult
from actionzoo.fileio.arrays import load_array
from actionzoo.fileio.atomic import save_npy_atomic, write_bytes_atomic
from actionzoo.fileio.paths import file_name_part, path_under
from actionzoo.runtime.batching import BatchPacker
from actionzoo.runtime.progress import ProgressDisplay
from actionzoo.runtime.streaming import stream_items
from actionzoo.runtime.timing import StageTimes
from actionzoo.zoo.protocols import Protocol

__all__ = ["INDEX_NAME", "META_NAME", "IndexRow", "read_index", "preprocess_dataset",
           "infer_directory", "postprocess", "read_meta", "write_meta", "preprocess_for_model",
           "InferRun", "infer_folder", "StagedAccuracy", "postprocess_folder"]

INDEX_NAME = "index.csv"
_FIELDS = ["file", "video_id", "label", "num_views", "status", "reason"]
# Limits on what an index may hold (preprocess writes rows of well under a kilobyte).
_MAX_FIELD = 4096
_MAX_INDEX_BYTES = 256 << 20


@dataclass(frozen=True)
class IndexRow:
    file: str
    video_id: str
    label: int | None
    num_views: int
    status: Status
    reason: str


def read_index(directory: str | Path) -> list[IndexRow]:
    """The rows of ``directory/index.csv``; every ``ok`` row names a plain file name (no folders,
    no ``..``), and files are then opened through :func:`path_under`, so neither an absolute name
    nor a symlink in the folder leads a read or a write outside it."""
    path = Path(directory) / INDEX_NAME
    if not path.is_file():
        raise UsageError(f"{path}: no index here; run `actionzoo preprocess` first")
    if path.stat().st_size > _MAX_INDEX_BYTES:
        raise UsageError(f"{path}: larger than {_MAX_INDEX_BYTES >> 20} MiB; not an index "
                         "that preprocess wrote")
    rows = []
    with path.open(newline="", errors="replace") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            try:
                if any(len(v) > _MAX_FIELD for v in row.values() if isinstance(v, str)):
                    raise ValueError
                label = int(row["label"]) if row["label"] not in ("", None) else None
                rows.append(IndexRow(row["file"], row["video_id"], label, int(row["num_views"] or 0),
                                     Status(row["status"]), row["reason"] or ""))
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"{path}:{n}: malformed index row") from None
            if rows[-1].status is Status.OK:
                # The file a row names is read, and written under another folder: a plain name.
                file_name_part(rows[-1].file, source=f"{path}:{n}", what="file")
    return rows


class _IndexWriter:
    def __init__(self, directory: Path) -> None:
        self.path = directory / INDEX_NAME
        fresh = not self.path.exists()
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=_FIELDS)
        if fresh:
            self._writer.writeheader()

    def write(self, row: IndexRow) -> None:
        self._writer.writerow({
            "file": row.file, "video_id": row.video_id,
            "label": "" if row.label is None else row.label, "num_views": row.num_views,
            "status": row.status, "reason": row.reason,
        })
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class PreprocessSummary:
    written: int
    failed: list[tuple[str, str]]
    skipped: int
    protocol: str = ""  # the protocol's description, when known


def preprocess_dataset(
    records: Sequence[VideoRecord],
    protocol: Protocol,
    out_dir: str | Path,
    *,
    workers: int = 0,
    progress: bool = False,
) -> PreprocessSummary:
    """Write one ``.npy`` model input per video; videos already in the index are skipped."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = {r.video_id for r in read_index(out)} if (out / INDEX_NAME).exists() else set()
    todo = [(i, r) for i, r in enumerate(records) if r.video_id not in done]
    writer = _IndexWriter(out)
    failed: list[tuple[str, str]] = []
    written = 0

    with ProgressDisplay(len(todo), "preprocess", "videos", enabled=progress) as bar:

        def save(item: WorkItem) -> None:
            nonlocal written
            record = records[item.position]
            name = f"{item.position:06d}.npy"
            save_npy_atomic(out / name, np.stack([np.asarray(v) for v in item.rows]))
            writer.write(IndexRow(name, record.video_id, record.label, len(item.rows), Status.OK,
                                  ""))
            written += 1
            bar.advance()

        def fail(item: WorkItem) -> None:
            record = records[item.position]
            failed.append((record.video_id, item.error or ""))
            writer.write(IndexRow("", record.video_id, record.label, 0, Status.FAILED,
                                  item.error or ""))
            bar.advance()

        try:
            interrupted = stream_items(view_items(todo, protocol, workers), None, on_failure=fail,
                                       on_item=save, times=StageTimes())
        finally:
            writer.close()
    if interrupted:
        raise KeyboardInterrupt
    return PreprocessSummary(written, failed, len(records) - len(todo))


def infer_directory(
    engine: Engine, inputs_dir: str | Path, out_dir: str | Path, *, batch_size: int
) -> int:
    """Run ``engine`` over every preprocessed input, views packed into batches of ``batch_size``.

    Writes ``<out_dir>/<file>`` with the (V, K) outputs of each input and a copy of the index.
    Returns the number of files written.
    """
    inputs = Path(inputs_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in read_index(inputs) if r.status is Status.OK]
    index = inputs / INDEX_NAME
    # Every path an index row names, checked before anything is read or run.
    sources = {r.file: path_under(inputs, r.file, source=index, what="file") for r in rows}
    targets = {r.file: path_under(out, r.file, source=index, what="file") for r in rows}
    todo = [r for r in rows if not targets[r.file].exists()]
    written = 0

    def save(row: IndexRow, outputs: list[np.ndarray]) -> None:
        nonlocal written
        save_npy_atomic(targets[row.file], np.stack(outputs).astype(np.float32))
        written += 1

    packer = BatchPacker(run_views(engine, batch_size), batch_size, save)
    for row in todo:
        views = load_array(sources[row.file], "preprocessed input")
        packer.add(row, list(views))
    packer.flush()
    # The index travels with the scores so post-processing needs nothing else.
    write_bytes_atomic(out / INDEX_NAME, (inputs / INDEX_NAME).read_bytes())
    return written


def postprocess(
    scores_dir: str | Path,
    protocol: Protocol,
    *,
    labels: dict[str, int] | None = None,
) -> dict[str, object]:
    """Accuracy from per-view output files; ``labels`` (video id -> label) overrides the index."""
    directory = Path(scores_dir)
    evaluator = TopKEvaluator()
    missing: list[str] = []
    failed: list[str] = []
    for position, row in enumerate(read_index(directory)):
        if row.status is not Status.OK:
            failed.append(row.video_id)
            continue
        label = labels.get(row.video_id) if labels is not None else row.label
        path = path_under(directory, row.file, source=directory / INDEX_NAME, what="file")
        if label is None or not path.is_file():
            missing.append(row.video_id)
            continue
        views = load_array(path, "scores")
        if views.ndim != 2 or views.dtype.kind != "f" or not len(views):
            raise UsageError(f"{path}: expected a (views, classes) float array of scores, got "
                             f"{views.dtype} {list(views.shape)}")
        scores = protocol.aggregation.combine(views)
        evaluator.process([VideoResult(row.video_id, position, str(path), label, Status.OK, None,
                                       len(views), scores, None, None)])
    result: dict[str, object] = evaluator.evaluate().metrics.to_dict()
    result["protocol"] = protocol.describe()
    result["failed_preprocess"] = failed
    result["missing_scores"] = missing
    return result


# ------------------------------------------------------------------- the folders and meta.json
#
# Each stage's folder carries ``meta.json``: preprocess writes the model, the protocol (name and
# description) and the annotation; infer copies it beside its outputs and adds the engine. The
# later stages read it, so a user names the model and protocol once.

META_NAME = "meta.json"
_MAX_META_BYTES = 1 << 20


def read_meta(folder: str | Path) -> dict[str, object]:
    """The ``meta.json`` of a stage's folder ({} when there is none), checked to be what
    preprocess writes: a small JSON object of plain values."""
    import json

    from actionzoo.fileio.display import escape

    path = Path(folder) / META_NAME
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > _MAX_META_BYTES:
            raise ValueError("larger than 1 MiB")
        meta = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError, RecursionError) as error:
        raise UsageError(f"{path}: not a meta.json that preprocess wrote "
                         f"({escape(str(error) or type(error).__name__, 120)})") from None
    if not isinstance(meta, dict) or not all(isinstance(v, (str, int, float, bool, type(None), list, dict))
                                             for v in meta.values()):
        raise UsageError(f"{path}: not a meta.json that preprocess wrote (expected an object)")
    for key in ("model", "protocol"):
        if not isinstance(meta.get(key, ""), str):
            raise UsageError(f"{path}: not a meta.json that preprocess wrote ({key} is not a name)")
    return meta


def write_meta(folder: str | Path, meta: dict[str, object]) -> Path:
    import json

    from actionzoo.fileio.atomic import write_text_atomic

    path = Path(folder) / META_NAME
    write_text_atomic(path, json.dumps(meta, indent=2) + "\n")
    return path


def preprocess_for_model(
    model,
    ann: str | Path,
    data_root: str | Path,
    out_dir: str | Path,
    *,
    protocol="official",
    ann_format: str = "auto",
    labels: str | Path | None = None,
    class_names: str | Path | None = None,
    workers: int = 2,
    progress: bool = False,
) -> PreprocessSummary:
    """``actionzoo preprocess``: one ``.npy`` model input per video of the annotation file
    ``ann`` (read as :func:`~actionzoo.data.annotations.read_annotations` reads it) under
    ``protocol`` (a name or Protocol), and the folder's ``meta.json`` naming the model, the
    protocol and the annotation."""
    from actionzoo.data.annotations import read_annotations
    from actionzoo.zoo.registry import get_model_spec

    spec = get_model_spec(model)
    protocol = spec.protocol(protocol)
    if protocol.is_detection:
        raise UsageError(f"{spec.name} is a detector: `actionzoo eval {spec.name}` reads its "
                         "AVA-layout data directly")
    records = read_annotations(ann, data_root, format=ann_format, labels=labels,
                               class_names=class_names).records
    summary = preprocess_dataset(records, protocol, out_dir, workers=workers, progress=progress)
    write_meta(out_dir, {"model": spec.name, "protocol": protocol.name,
                         "summary": protocol.describe(), "annotation": str(ann)})
    summary.protocol = protocol.describe()
    return summary


@dataclass
class InferRun:
    written: int
    engine: str  # the engine's description


def infer_folder(inputs_dir: str | Path, out_dir: str | Path, *, engine, model=None,
                 batch_size: int = 1) -> InferRun:
    """``actionzoo infer``: the engine ``engine`` (:class:`~actionzoo.engines.options.
    EngineOptions`) asks for over a preprocessed folder; a PyTorch engine builds ``model``, by
    default the one the folder's ``meta.json`` names. The outputs' folder gets the ``meta.json``
    with the engine added."""
    from actionzoo.engines.options import build_engine
    from actionzoo.engines.registry import engine_kind

    meta = read_meta(inputs_dir)
    kind = engine_kind(engine.engine)
    if kind.needs_model and not model:
        model = meta.get("model")
        if not model:
            raise UsageError(f"the {kind.name} engine needs --model (and --checkpoint)")
    runner = build_engine(model, engine)
    written = infer_directory(runner, inputs_dir, out_dir, batch_size=batch_size)
    description = runner.info.describe()
    if meta:
        write_meta(out_dir, {**meta, "engine": description})
    return InferRun(written, description)


@dataclass
class StagedAccuracy:
    model: str
    protocol: Protocol
    result: dict[str, object]  # what :func:`postprocess` returns

    def summary(self) -> str:
        r = self.result
        return (f"{self.model} [{self.protocol.describe()}]: top-1 {100 * r['top1']:.2f}  "
                f"top-5 {100 * r['top5']:.2f}  mean class accuracy "
                f"{100 * r['mean_class_accuracy']:.2f}  ({r['videos']} videos)")


def postprocess_folder(scores_dir: str | Path, *, model=None, protocol=None,
                       ann: str | Path | None = None, data_root: str | Path = ".",
                       ann_format: str = "auto", labels: str | Path | None = None,
                       class_names: str | Path | None = None) -> StagedAccuracy:
    """``actionzoo postprocess``: accuracy of an ``infer`` folder. ``model`` and ``protocol``
    default to those of its ``meta.json``; a protocol whose views differ from those the inputs
    were made with is refused. The labels come from the annotation file ``ann`` when given
    (read as :func:`~actionzoo.data.annotations.read_annotations` reads it), else the index."""
    from actionzoo.data.annotations import read_annotations
    from actionzoo.zoo.registry import get_model_spec

    meta = read_meta(scores_dir)
    model = model or meta.get("model")
    if not model:
        raise UsageError(f"{scores_dir}: no meta.json to name the model; pass --model")
    spec = get_model_spec(model)
    chosen = spec.protocol(protocol or meta.get("protocol", "official"))
    if meta.get("protocol") and meta["protocol"] != chosen.name:
        made = spec.protocol(meta["protocol"])
        if made.pipeline != chosen.pipeline:
            raise UsageError(
                f"{scores_dir}: inputs were made with the {made.name} protocol ({made.summary}); "
                f"{chosen.name} needs other views ({chosen.summary})"
            )
    truth = None
    if ann:
        truth = {r.video_id: r.label for r in read_annotations(
            ann, data_root, format=ann_format, labels=labels, class_names=class_names).records}
    return StagedAccuracy(spec.name, chosen, postprocess(scores_dir, chosen, labels=truth))


def preprocessed_views(folder: str | Path, max_videos: int) -> tuple:
    """The views of the first ``max_videos`` videos a ``preprocess`` folder holds (its index's
    ``ok`` rows), as arrays: real inputs for ``export --verify --inputs``."""
    from actionzoo.data.work_item import Status
    from actionzoo.fileio.arrays import load_array
    from actionzoo.fileio.paths import path_under

    rows = [r for r in read_index(folder) if r.status is Status.OK]
    index = Path(folder) / INDEX_NAME
    return tuple(load_array(path_under(folder, r.file, source=index, what="file"), "preprocessed input")
                 for r in rows[:max_videos])
