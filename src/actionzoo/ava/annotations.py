"""Readers for the AVA v2.2 annotation files.

Every reader collects *all* problems of a file (with 1-based line numbers, or the pickle key) and
raises one :class:`~actionzoo.errors.AnnotationError` listing them; nothing is silently skipped
except blank lines. Files:

* ground-truth CSV (``ava_{train,val}_v2.2.csv``): ``video_id, timestamp, x1, y1, x2, y2,
  action_id[, person_id]``, no header, one row per (box, action)  -> :func:`read_annotations_csv`;
* detection / result CSV: ``video_id, timestamp, x1, y1, x2, y2, action_id[, score]``
  -> :func:`read_detections_csv`;
* PySlowFast person-detector boxes (``person_box_67091280_iou90/*.csv``), whose action column may
  be empty or ``-1`` and whose last column is the detector score -> :func:`read_person_boxes_csv`;
* label map pbtxt, ``item { name: .. id: .. }`` or ``label { name: .. label_id: .. }``
  -> :func:`read_labelmap`;
* excluded timestamps CSV (``video_id, timestamp``) -> :func:`read_excluded_timestamps`;
* frame lists (``frame_lists/{train,val}.csv``, space separated, one header line)
  -> :func:`read_frame_list`;
* person-proposal pickles (``ava_dense_proposals_*.pkl``:
  ``{"vid,0902": N x 5 [x1, y1, x2, y2, score]}``)
  -> :func:`read_proposals_pickle`, through an unpickler that admits only plain containers and
  numpy arrays, so a pickle cannot run code.

Keyframes are identified by the official image key ``"%s,%04d" % (video_id, int(timestamp))``
(:func:`image_key`), so ``902`` and ``0902`` name the same keyframe.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np

from actionzoo.errors import AnnotationError
from actionzoo.fileio.display import escape, shown
from actionzoo.fileio.text import read_lines, read_text
from actionzoo.fileio.unpickle import RefusedGlobal, restricted_load

__all__ = [
    "AVA_KEYFRAME_SECONDS",
    "AnnotationRow",
    "DetectionRow",
    "PersonBox",
    "FrameList",
    "image_key",
    "parse_image_key",
    "read_annotations_csv",
    "read_detections_csv",
    "read_person_boxes_csv",
    "read_labelmap",
    "read_excluded_timestamps",
    "read_frame_list",
    "read_proposals_pickle",
]

PathLike = Union[str, os.PathLike]

#: Annotated keyframe seconds of every AVA video: 902 ... 1798 inclusive (897 per video).
AVA_KEYFRAME_SECONDS = range(902, 1799)

# Integers of at most 18 digits (int() refuses more than 4300, and no AVA field needs 19).
_UINT = re.compile(r"[0-9]{1,18}")
_INT = re.compile(r"[+-]?[0-9]{1,18}")
#: Longest video id accepted from a file (YouTube ids are 11 characters).
MAX_VIDEO_ID = 200


def image_key(video_id: str, timestamp: int | str) -> str:
    """The official keyframe key ``"%s,%04d" % (video_id, int(timestamp))``."""
    return "%s,%04d" % (video_id, int(timestamp))


def parse_image_key(key: str) -> tuple[str, int]:
    """``"vid,0902"`` -> ``("vid", 902)``; raises ``ValueError`` for anything else."""
    video_id, sep, second = key.rpartition(",")
    if not sep or not video_id or len(video_id) > MAX_VIDEO_ID or not _UINT.fullmatch(second.strip()):
        raise ValueError(f"not a 'video_id,timestamp' key: {shown(key, 40)}")
    return video_id, int(second)


@dataclass(frozen=True)
class AnnotationRow:
    """One ground-truth row: one (box, action) of one person at one keyframe.

    Coordinates are normalised to [0, 1], origin top-left. ``person_id`` is ``None`` for 7-column
    files. (The official evaluator uses the person id as the "score" that orders a keyframe's GT
    rows, which decides ties between GT boxes of equal IoU.)
    """

    video_id: str
    timestamp: int
    x1: float
    y1: float
    x2: float
    y2: float
    action_id: int
    person_id: int | None = None
    # the row's "x1,y1,x2,y2" text (fields stripped): training merges a keyframe's rows by it
    box_text: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return image_key(self.video_id, self.timestamp)


@dataclass(frozen=True)
class DetectionRow:
    """One detection row: one (box, class, score). A 7-column row has score 1.0, as officially."""

    video_id: str
    timestamp: int
    x1: float
    y1: float
    x2: float
    y2: float
    action_id: int
    score: float = 1.0

    @property
    def key(self) -> str:
        return image_key(self.video_id, self.timestamp)


@dataclass(frozen=True)
class PersonBox:
    """One row of a PySlowFast person-detector box file.

    ``action_id`` is ``None`` for the "no action" rows (empty field or ``-1``). ``box_text`` is the
    raw ``"x1,y1,x2,y2"`` text: PySlowFast merges rows of one keyframe by this exact string.
    """

    video_id: str
    timestamp: int
    x1: float
    y1: float
    x2: float
    y2: float
    action_id: int | None
    score: float
    box_text: str

    @property
    def key(self) -> str:
        return image_key(self.video_id, self.timestamp)


@dataclass
class FrameList:
    """A frame list: videos in order of first appearance (= PySlowFast's video index) and, per
    video, its frame paths in row order (row position = 0-based frame index)."""

    videos: list[str] = field(default_factory=list)
    frames: dict[str, list[str]] = field(default_factory=dict)

    def video_index(self, video_id: str) -> int:
        return self.videos.index(video_id)


# --------------------------------------------------------------------------- low-level helpers


def _csv_rows(path: PathLike):
    """(line number, stripped fields) of every non-blank CSV row."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1
        if not row or all(not cell.strip() for cell in row):
            continue
        yield line, [cell.strip() for cell in row]


class _Fields:
    """Parses the fields of one row, appending a message per bad field to ``problems``."""

    def __init__(self, problems: list[str], line: int):
        self.problems = problems
        self.line = line
        self.ok = True

    def bad(self, message: str) -> None:
        self.ok = False
        self.problems.append(f"line {self.line}: {message}")

    def video(self, text: str) -> str:
        if not text:
            self.bad("empty video_id")
        elif len(text) > MAX_VIDEO_ID:
            self.bad(f"video_id of {len(text)} characters (at most {MAX_VIDEO_ID})")
        return text

    def timestamp(self, text: str) -> int:
        if not _UINT.fullmatch(text):
            self.bad(f"timestamp {shown(text, 40)} is not a non-negative integer second")
            return 0
        return int(text)

    def coord(self, name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            self.bad(f"{name} {shown(text, 40)} is not a number")
            return 0.0
        if not math.isfinite(value):
            self.bad(f"{name} {shown(text, 40)} is not finite")
            return 0.0
        return value

    def integer(self, name: str, text: str) -> int:
        if not _INT.fullmatch(text):
            self.bad(f"{name} {shown(text, 40)} is not an integer")
            return 0
        return int(text)


_GT_COLUMNS = "video_id, timestamp, x1, y1, x2, y2, action_id[, person_id]"
_DET_COLUMNS = "video_id, timestamp, x1, y1, x2, y2, action_id[, score]"


def _box_fields(f: _Fields, row: list[str]) -> tuple[str, int, float, float, float, float]:
    video = f.video(row[0])
    second = f.timestamp(row[1])
    x1, y1, x2, y2 = (f.coord(n, t) for n, t in zip(("x1", "y1", "x2", "y2"), row[2:6]))
    return video, second, x1, y1, x2, y2


def _wrong_columns(row: list[str], columns: str) -> str:
    hint = ""
    if len(row) == 2:
        hint = (
            "; 2-column rows are the 2020 evaluator's empty-keyframe rows, which the 2019 "
            "(exclusions-file) protocol does not use"
        )
    return f"expected 7 or 8 comma-separated fields ({columns}), got {len(row)}{hint}"


# --------------------------------------------------------------------------------- CSV readers


def read_annotations_csv(path: PathLike) -> list[AnnotationRow]:
    """Read a ground-truth CSV (``ava_{train,val}_v2.2.csv``) in file order.

    Problems reported: a wrong number of fields, a timestamp that is not an integer, a coordinate
    that is not a finite number, an action or person id that is not an integer, and a box with
    ``x1 > x2`` or ``y1 > y2`` (the official evaluator fails on such a ground-truth box;
    zero-area boxes are allowed: they count as ground truth that cannot be matched).
    """
    rows: list[AnnotationRow] = []
    problems: list[str] = []
    for line, row in _csv_rows(path):
        f = _Fields(problems, line)
        if len(row) not in (7, 8):
            f.bad(_wrong_columns(row, _GT_COLUMNS))
            continue
        video, second, x1, y1, x2, y2 = _box_fields(f, row)
        action = f.integer("action_id", row[6])
        person = f.integer("person_id", row[7]) if len(row) == 8 else None
        if f.ok and (x1 > x2 or y1 > y2):
            f.bad(
                f"inverted box: x1={row[2]} y1={row[3]} x2={row[4]} y2={row[5]} "
                "(need x1 <= x2, y1 <= y2)"
            )
        if f.ok:
            rows.append(AnnotationRow(video, second, x1, y1, x2, y2, action, person, ",".join(row[2:6])))
    if problems:
        raise AnnotationError(path, problems)
    return rows


def read_detections_csv(path: PathLike) -> list[DetectionRow]:
    """Read a detection (submission) CSV in file order.

    Boxes with ``x1 >= x2`` or ``y1 >= y2`` are *kept*: the evaluator drops them where the official
    code does (after the per-keyframe top-50 selection). A 7-column row gets score 1.0, as in the
    official reader.
    """
    rows: list[DetectionRow] = []
    problems: list[str] = []
    for line, row in _csv_rows(path):
        f = _Fields(problems, line)
        if len(row) not in (7, 8):
            f.bad(_wrong_columns(row, _DET_COLUMNS))
            continue
        video, second, x1, y1, x2, y2 = _box_fields(f, row)
        action = f.integer("action_id", row[6])
        score = f.coord("score", row[7]) if len(row) == 8 else 1.0
        if f.ok:
            rows.append(DetectionRow(video, second, x1, y1, x2, y2, action, score))
    if problems:
        raise AnnotationError(path, problems)
    return rows


def read_person_boxes_csv(path: PathLike, *, min_score: float | None = 0.8) -> list[PersonBox]:
    """Read a PySlowFast person-detector box CSV, keeping rows with ``score >= min_score``.

    Columns ``video_id, timestamp, x1, y1, x2, y2, action_id, score``; ``action_id`` may be empty
    or ``-1`` ("no action", returned as ``None``). PySlowFast's SHORT config uses ``min_score`` 0.8
    (its default is 0.9); ``None`` keeps every row. Rows are in file order.
    """
    rows: list[PersonBox] = []
    problems: list[str] = []
    for line, text in read_lines(path, comments=False):
        row = text.split(",")
        f = _Fields(problems, line)
        if len(row) != 8:
            f.bad(
                "expected 8 comma-separated fields (video_id, timestamp, x1, y1, x2, y2, "
                f"action_id or empty, score), got {len(row)}"
            )
            continue
        fields = [cell.strip() for cell in row]
        video, second, x1, y1, x2, y2 = _box_fields(f, fields)
        action: int | None = None
        if fields[6] != "":
            action = f.integer("action_id", fields[6])
            if action == -1:
                action = None
        score = f.coord("score", fields[7])
        if f.ok and (min_score is None or score >= min_score):
            rows.append(PersonBox(video, second, x1, y1, x2, y2, action, score, ",".join(row[2:6])))
    if problems:
        raise AnnotationError(path, problems)
    return rows


def read_excluded_timestamps(path: PathLike) -> set[str]:
    """Read ``ava_*_excluded_timestamps_v2.2.csv`` (``video_id, timestamp``) as image keys."""
    keys: set[str] = set()
    problems: list[str] = []
    for line, row in _csv_rows(path):
        f = _Fields(problems, line)
        if len(row) != 2:
            f.bad(f"expected 2 comma-separated fields (video_id, timestamp), got {len(row)}")
            continue
        video = f.video(row[0])
        second = f.timestamp(row[1])
        if f.ok:
            keys.add(image_key(video, second))
    if problems:
        raise AnnotationError(path, problems)
    return keys


# ---------------------------------------------------------------------------------- label map

_NAME = re.compile(r'name:\s*"([^"]*)"')


def read_labelmap(path: PathLike) -> dict[int, str]:
    """Read an AVA label map pbtxt as ``{class_id: name}`` in file order.

    Both forms are accepted: ``item { name: "..." id: N }`` (2018 list) and ``label { name: "..."
    label_id: N label_type: ... }`` (2019 list). As in the official line-based parser, a ``name:``
    line gives the name (text between the first pair of double quotes) and an ``id:`` or
    ``label_id:`` line gives the id (its last whitespace token) and closes the entry; other
    lines are ignored. Unlike the official parser, indentation is not required to be exactly two
    spaces. Problems reported: an id that is not a positive integer, a name line without a quoted
    name, an id with no name before it, a repeated id, and a file with no entries.
    """
    labelmap: dict[int, str] = {}
    problems: list[str] = []
    name: str | None = None
    for line, text in read_lines(path, comments=False):
        if text.startswith("name:"):
            match = _NAME.match(text)
            if match is None:
                problems.append(f'line {line}: expected name: "<class name>", got {shown(text, 40)}')
                name = None
            else:
                name = match.group(1)
        elif text.startswith("id:") or text.startswith("label_id:"):
            token = text.split()[-1]
            if not _UINT.fullmatch(token) or int(token) < 1:
                problems.append(f"line {line}: class id {shown(token, 40)} is not a positive integer")
            elif name is None:
                problems.append(f"line {line}: class id {token} has no name: line before it")
            elif int(token) in labelmap:
                problems.append(f"line {line}: class id {token} appears twice")
            else:
                labelmap[int(token)] = name
            name = None
    if not labelmap and not problems:
        problems.append("no classes found (expected name: and id: / label_id: lines)")
    if problems:
        raise AnnotationError(path, problems)
    return labelmap


# --------------------------------------------------------------------------------- frame lists

_FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"


def read_frame_list(path: PathLike) -> FrameList:
    """Read a PySlowFast frame list (``frame_lists/{train,val}.csv``).

    Space separated with one header line (``original_vido_id video_id frame_id path labels``);
    each row ``<video name> <video index> <frame index> <relative path> <labels>``, exactly 5
    tokens. As in PySlowFast, the row order defines each video's frame index and the order of
    first appearance defines the video index. Problems reported: a missing header, a row without
    5 tokens, a non-integer video or frame index, a frame index that is not the row's position
    within its video (the list is out of order), and one video name with two video indices.
    """
    lines = list(read_lines(path, comments=False))
    problems: list[str] = []
    result = FrameList()
    first = lines[0][1] if lines and lines[0][0] == 1 else ""  # the header is line 1
    if not first.split()[:1] or not first.split()[0].startswith("original_vid"):
        raise AnnotationError(
            path, [f"line 1: expected the header {_FRAME_LIST_HEADER!r}, got {shown(first, 40)}"]
        )
    index_of: dict[str, int] = {}
    for line, raw in lines[1:]:
        row = raw.split()
        if len(row) != 5:
            problems.append(
                f"line {line}: expected 5 space-separated tokens (original_vido_id video_id "
                f'frame_id path labels, labels may be ""), got {len(row)}'
            )
            continue
        name, video_idx, frame_idx, rel_path = row[0], row[1], row[2], row[3]
        ok = True
        if not _UINT.fullmatch(video_idx):
            problems.append(f"line {line}: video_id {shown(video_idx, 40)} is not a non-negative integer")
            ok = False
        elif index_of.setdefault(name, int(video_idx)) != int(video_idx):
            problems.append(
                f"line {line}: video {name} has video_id {video_idx} here "
                f"but {index_of[name]} before"
            )
            ok = False
        frames = result.frames.get(name, [])
        if not _UINT.fullmatch(frame_idx):
            problems.append(f"line {line}: frame_id {shown(frame_idx, 40)} is not a non-negative integer")
            ok = False
        elif int(frame_idx) != len(frames):
            problems.append(
                f"line {line}: frame_id {frame_idx} of video {name} is row {len(frames)} of that "
                "video (frames must be listed in order, from 0, without gaps)"
            )
            ok = False
        if ok:
            if name not in result.frames:
                result.videos.append(name)
                result.frames[name] = frames
            frames.append(rel_path)
    if problems:
        raise AnnotationError(path, problems)
    return result


# ------------------------------------------------------------------------- proposal pickles


def read_proposals_pickle(
    path: PathLike, *, min_score: float | None = 0.8
) -> dict[str, np.ndarray]:
    """Read a person-proposal pickle (mmaction2 / LFB ``ava_dense_proposals_*.pkl``).

    The file holds a dict ``"{video_id},{ts:04d}" -> N x 5 [x1, y1, x2, y2, score]`` (normalised).
    It is read with an unpickler that admits only plain containers and numpy arrays: a pickle that
    refers to anything else (``os.system``, a class) is refused before anything runs. Keys are
    normalised with :func:`image_key`; arrays are returned as float64 copies holding the rows with
    ``score >= min_score`` (``None`` keeps all), in stored order. A keyframe whose rows all fall
    below the threshold keeps an empty ``(0, 5)`` array.
    """
    p = Path(path)
    try:
        data = restricted_load(p)
    except FileNotFoundError:
        raise AnnotationError(p, ["file not found"]) from None
    except RefusedGlobal as refused:
        raise AnnotationError(
            p,
            [
                f"refused to unpickle {refused.name}: a proposal pickle may hold only plain "
                "containers and numpy arrays (the file may be unsafe; nothing in it was run)"
            ],
        ) from None
    except Exception as error:  # truncated or not a pickle at all
        raise AnnotationError(
            p, [f"not a readable pickle ({type(error).__name__}: {escape(str(error), 160)})"]
        ) from None

    if not isinstance(data, dict):
        raise AnnotationError(
            p, [f"expected a dict of keyframe -> array, got {type(data).__name__}"]
        )
    problems: list[str] = []
    result: dict[str, np.ndarray] = {}
    for raw_key, value in data.items():
        if isinstance(raw_key, bytes):
            raw_key = raw_key.decode("latin1")
        if not isinstance(raw_key, str):
            problems.append(f"key {shown(raw_key, 60)}: expected a 'video_id,timestamp' string")
            continue
        try:
            key = image_key(*parse_image_key(raw_key))
        except ValueError:
            problems.append(f"key {shown(raw_key, 60)}: expected 'video_id,timestamp'")
            continue
        if key in result:
            problems.append(f"key {shown(raw_key, 60)}: keyframe {key} appears twice")
            continue
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            kind = (
                type(value).__name__
                if not isinstance(value, np.ndarray)
                else f"{value.dtype} array"
            )
            problems.append(f"key {shown(raw_key, 60)}: expected a numeric N x 5 array, got {kind}")
            continue
        boxes = value.astype(np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 5)
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            problems.append(
                f"key {shown(raw_key, 60)}: expected an N x 5 [x1, y1, x2, y2, score] array, "
                f"got shape {value.shape}"
            )
            continue
        if not np.isfinite(boxes).all():
            problems.append(f"key {shown(raw_key, 60)}: array holds NaN or infinite values")
            continue
        if min_score is not None:
            boxes = boxes[boxes[:, 4] >= min_score]
        result[key] = boxes
    if problems:
        raise AnnotationError(p, problems)
    return result
