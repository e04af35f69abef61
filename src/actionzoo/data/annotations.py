"""Annotation files: which videos make up a test set, and their labels.

Every reader turns one dataset's annotation file(s) into an :class:`Annotations`: a list of
:class:`VideoRecord` (absolute-ish path, integer label, optional frame count, stable id) plus the
class names when the files carry them. Nothing here opens a video; use
:meth:`Annotations.missing` to list records whose video or frame folder is absent.

Formats (mmaction2@5fa8faa ``mmaction/datasets/{video,rawframe}_dataset.py``, ``tools/data/*``;
PySlowFast@9839d13 ``slowfast/datasets/kinetics.py``): :data:`ANNOTATION_FORMATS` is the one
table of them, each a name (``--ann-format``), a one-line description, its reader and, for the
two-file formats, the companion file that names the classes. ``--ann-format``'s choices and help,
:func:`read_annotations` and its error messages all read that table (``actionzoo eval --help``
prints it); each row's reader is one of the ``read_*`` functions below.

Rules shared by the line-based formats (all but ``kinetics_csv`` and ``sthv2``):

* Text is read, and lines numbered, by the one line reader :mod:`actionzoo.fileio.text`: UTF-8
  (a byte-order mark is ignored), ``\\n`` and ``\\r\\n`` line ends; blank lines are skipped, and
  so are comment lines whose first non-blank character is ``#`` (no format puts a ``#`` at the
  start of a path).
* In mmaction2 lists the fields are separated by any whitespace and the path is everything
  before the last one (video list) or two (rawframe list) fields, so paths with spaces work.
  Multi-label rawframe lines (``dir frames l1 l2 ...``) are not supported.
  A PySlowFast ``test.csv`` splits on one space into exactly two fields, as PySlowFast does, so
  there a path cannot contain a space.
* Labels and frame counts are non-negative integers. When the class names (or their number)
  are known, a label must be below the number of classes. A frame count of 0 is accepted (the
  evaluator reports such a video as unreadable, per video).
* Paths are joined to ``data_root`` (an absolute path in the file stays absolute, as in mmaction2).

Every problem in a file is collected before an :class:`~actionzoo.errors.AnnotationError` is
raised; each problem names the 1-based line number and the line's content, abbreviated.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionzoo.data.class_names import check_class_count, class_count_problem
from actionzoo.errors import AnnotationError, UsageError
from actionzoo.fileio.text import read_text, text_lines

__all__ = [
    "FORMATS",
    "ANNOTATION_FORMATS",
    "AnnotationFormat",
    "format_help",
    "Annotations",
    "VideoRecord",
    "detect_format",
    "kinetics_class_name",
    "kinetics_clip_id",
    "missing_videos",
    "read_annotations",
    "read_class_names",
    "read_kinetics_csv",
    "read_pyslowfast_csv",
    "read_rawframe_list",
    "read_sthv2",
    "read_ucf101_split",
    "read_video_list",
    "sthv2_template_key",
]


PathLike = str | Path
ClassNames = Sequence[str] | str | Path | None

_ABBREV = 60
# At most 18 digits: int() refuses more than 4300, and no label or count needs 19.
_INT = re.compile(r"[+-]?[0-9]{1,18}")
# Unambiguous (the digits before and after a point cannot trade places), so matching is linear:
# the former ``[0-9]+\.?[0-9]*`` backtracked quadratically (20 KB of digits took 11 s).
_NUMBER = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,4})?")
#: Longest field of a CSV row accepted (labels, ids and paths are far shorter).
MAX_FIELD = 1024


@dataclass(frozen=True)
class VideoRecord:
    """One video of a test set."""

    path: Path  # video file or frame directory, already joined with the data root
    label: int | None  # class index; None for videos to predict, not to score
    num_frames: int | None = None  # from rawframe lists (total_frames); None for video lists
    video_id: str = ""  # stable id for results tables (the relative path as written / sthv2 id)


@dataclass(frozen=True)
class Annotations:
    """The records of one annotation file, the class names if known, and where they came from."""

    records: list[VideoRecord]
    class_names: list[str] | None  # None when the files carry no names
    source: Path

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[VideoRecord]:
        return iter(self.records)

    @property
    def num_classes(self) -> int | None:
        """Number of classes when the names are known, else None."""
        return None if self.class_names is None else len(self.class_names)

    def missing(self) -> list[VideoRecord]:
        """Records whose video file or frame directory does not exist (checked now)."""
        return missing_videos(self.records)


def missing_videos(records: Sequence[VideoRecord]) -> list[VideoRecord]:
    """The records whose ``path`` does not exist on disk, in order."""
    return [r for r in records if not r.path.exists()]


# --------------------------------------------------------------------------------------------
# small helpers


def _abbrev(text: str, limit: int = _ABBREV) -> str:
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)  # repr escapes control characters: a file cannot forge the terminal


def _where(lineno: int, content: str) -> str:
    return f"line {lineno} ({_abbrev(content)})"


class _LineProblem(ValueError):
    """One problem of one line; readers collect these and raise one AnnotationError."""


def _count(field: str, what: str) -> int:
    """A non-negative integer field."""
    if not _INT.fullmatch(field):
        raise _LineProblem(f"{what} {_abbrev(field, 30)} is not an integer")
    value = int(field)
    if value < 0:
        raise _LineProblem(f"{what} {value} is negative")
    return value


def _label(field: str, limit: int | None) -> int:
    """A label field: a non-negative integer below ``limit`` when that is known."""
    label = _count(field, "label")
    if limit is not None and label >= limit:
        raise _LineProblem(f"label {label} out of range for {limit} classes (0..{limit - 1})")
    return label


def _resolve_class_names(class_names: ClassNames) -> list[str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, (str, Path)):
        return read_class_names(class_names)
    return [str(n) for n in class_names]


def _limit(class_names: list[str] | None, num_classes: int | None,
           given: ClassNames = None) -> int | None:
    """The number of classes labels must stay below, checking the two sources agree (``given``:
    the ``class_names`` argument, named in the error when it is a file)."""
    if num_classes is not None and num_classes <= 0:
        raise UsageError(f"num_classes must be positive, got {num_classes}")
    if class_names is not None:
        if num_classes is not None:
            source = given if isinstance(given, (str, Path)) else "class_names"
            check_class_count(class_names, num_classes, source)
        return len(class_names)
    return num_classes


def _finish(
    path: Path, records: list[VideoRecord], names: list[str] | None, problems: list[str]
) -> Annotations:
    if problems:
        raise AnnotationError(path, problems)
    if not records:
        raise AnnotationError(path, ["no entries (the file holds no videos)"])
    return Annotations(records=records, class_names=names, source=path)


# --------------------------------------------------------------------------------------------
# class names


def read_class_names(path: PathLike) -> list[str]:
    """Class names, index = position in the returned list.

    Accepted contents:

    * one name per line (mmaction2 ``label_map_k400.txt``, ``label_map.txt``); names may contain
      spaces and are kept as written (outer whitespace stripped);
    * an index file whose every line is ``<int> <name>`` (UCF-101 ``classInd.txt``, 1-based, or
      a 0-based variant): the indices must run without gaps or repeats from 0 or 1;
    * a ``.json`` file: a list of names, or an object ``name -> index`` (Something-Something V2
      ``labels.json``, whose names are the templates without brackets).

    Blank lines and ``#`` comment lines are skipped. Repeated names are an error.
    """
    path = Path(path)
    text = read_text(path)
    if path.suffix.lower() == ".json":
        data = _load_json(path, text)
        if isinstance(data, dict):
            return _names_from_label_map(path, text, data)
        if isinstance(data, list) and all(isinstance(n, str) for n in data):
            names = [n.strip() for n in data]
            _check_unique_names(path, names, [None] * len(names))
            if not names:
                raise AnnotationError(path, ["no class names"])
            return names
        raise AnnotationError(
            path, ["expected a JSON list of names or an object mapping name -> index"]
        )

    lines = list(text_lines(text))
    if not lines:
        raise AnnotationError(path, ["no class names"])
    indexed = [re.fullmatch(r"([0-9]{1,18})\s+(\S.*)", line) for _, line in lines]
    matches = [m for m in indexed if m is not None]
    if len(matches) == len(lines):
        return _names_from_index_lines(path, lines, matches)
    names = [line for _, line in lines]
    _check_unique_names(path, names, [n for n, _ in lines])
    return names


def _names_from_index_lines(
    path: Path, lines: list[tuple[int, str]], matches: list[re.Match[str]]
) -> list[str]:
    problems: list[str] = []
    by_index: dict[int, str] = {}
    for (lineno, line), m in zip(lines, matches):
        index, name = int(m.group(1)), m.group(2).strip()
        if index in by_index:
            problems.append(f"{_where(lineno, line)}: index {index} repeated")
            continue
        by_index[index] = name
    if not problems:
        base = min(by_index)
        if base not in (0, 1):
            problems.append(f"class indices start at {base}, expected 0 or 1")
        else:
            gaps = [i for i in range(base, base + len(by_index)) if i not in by_index]
            if gaps:
                problems.append(f"class index {gaps[0]} missing (indices must have no gaps)")
    if problems:
        raise AnnotationError(path, problems)
    names = [by_index[i] for i in sorted(by_index)]
    _check_unique_names(path, names, [None] * len(names))
    return names


def _check_unique_names(path: Path, names: list[str], linenos: list[int | None]) -> None:
    seen: set[str] = set()
    problems = []
    for name, lineno in zip(names, linenos):
        if name in seen:
            where = f"line {lineno}: " if lineno is not None else ""
            problems.append(f"{where}class name {_abbrev(str(name), 60)} repeated")
        seen.add(name)
    if problems:
        raise AnnotationError(path, problems)


# --------------------------------------------------------------------------------------------
# mmaction2 lists and the PySlowFast csv


def read_video_list(
    ann: PathLike,
    data_root: PathLike,
    *,
    class_names: ClassNames = None,
    num_classes: int | None = None,
) -> Annotations:
    """An mmaction2 video list: ``<path> <label>`` per line, e.g.
    ``abseiling/--07WQ2iBlw_000001_000011.mp4 0``.

    The path is everything before the last whitespace-separated field. ``video_id`` is the path
    as written. ``class_names`` (a list, or a file for :func:`read_class_names`) or
    ``num_classes`` enable the label range check; the names are carried into the result.
    """
    path = Path(ann)
    names = _resolve_class_names(class_names)
    limit = _limit(names, num_classes, class_names)
    root = Path(data_root)
    records: list[VideoRecord] = []
    problems: list[str] = []
    for lineno, line in text_lines(read_text(path)):
        fields = line.rsplit(None, 1)
        if len(fields) != 2:
            problems.append(f"{_where(lineno, line)}: expected '<path> <label>'")
            continue
        rel, label_field = fields
        try:
            label = _label(label_field, limit)
        except _LineProblem as problem:
            problems.append(f"{_where(lineno, line)}: {problem}")
            continue
        records.append(VideoRecord(path=root / rel, label=label, video_id=rel))
    return _finish(path, records, names, problems)


def read_rawframe_list(
    ann: PathLike,
    data_root: PathLike,
    *,
    class_names: ClassNames = None,
    num_classes: int | None = None,
) -> Annotations:
    """An mmaction2 rawframe list: ``<frame_dir> <total_frames> <label>`` per line, e.g.
    ``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01 121 0`` or ``74225 45 12`` (Sth-v2).

    The frame directory is everything before the last two fields; ``num_frames`` is
    ``total_frames``; ``video_id`` is the directory as written.
    """
    path = Path(ann)
    names = _resolve_class_names(class_names)
    limit = _limit(names, num_classes, class_names)
    root = Path(data_root)
    records: list[VideoRecord] = []
    problems: list[str] = []
    for lineno, line in text_lines(read_text(path)):
        fields = line.rsplit(None, 2)
        if len(fields) != 3:
            problems.append(
                f"{_where(lineno, line)}: expected '<frame_dir> <total_frames> <label>'"
            )
            continue
        rel, frames_field, label_field = fields
        line_problems = []
        frames = label = 0
        try:
            frames = _count(frames_field, "total_frames")
        except _LineProblem as problem:
            line_problems.append(str(problem))
        try:
            label = _label(label_field, limit)
        except _LineProblem as problem:
            line_problems.append(str(problem))
        if line_problems:
            problems.append(f"{_where(lineno, line)}: {'; '.join(line_problems)}")
            continue
        records.append(VideoRecord(path=root / rel, label=label, num_frames=frames, video_id=rel))
    return _finish(path, records, names, problems)


def read_pyslowfast_csv(
    csv_path: PathLike,
    data_root: PathLike,
    *,
    class_names: ClassNames = None,
    num_classes: int | None = None,
) -> Annotations:
    """A PySlowFast ``test.csv`` (``DATA.PATH_TO_DATA_DIR/test.csv``): ``<path> <label>``.

    As in PySlowFast the line is split on a single space and must give exactly two fields, so a
    path with a space, a tab separator or a doubled space is reported. ``data_root`` plays the
    role of ``DATA.PATH_PREFIX``. There is no header line.
    """
    path = Path(csv_path)
    names = _resolve_class_names(class_names)
    limit = _limit(names, num_classes, class_names)
    root = Path(data_root)
    records: list[VideoRecord] = []
    problems: list[str] = []
    for lineno, line in text_lines(read_text(path)):
        fields = line.split(" ")
        if len(fields) != 2 or not fields[0]:
            problems.append(
                f"{_where(lineno, line)}: expected exactly two fields '<path> <label>' "
                f"separated by one space, got {len(fields)}"
            )
            continue
        rel, label_field = fields
        try:
            label = _label(label_field, limit)
        except _LineProblem as problem:
            problems.append(f"{_where(lineno, line)}: {problem}")
            continue
        records.append(VideoRecord(path=root / rel, label=label, video_id=rel))
    return _finish(path, records, names, problems)


# --------------------------------------------------------------------------------------------
# Kinetics CSV


def kinetics_class_name(label: str) -> str:
    """mmaction2's class-name rule: quotes removed, spaces replaced by ``_``."""
    return label.strip().replace('"', "").replace(" ", "_")


def kinetics_clip_id(youtube_id: str, time_start: float, time_end: float) -> str:
    """``<youtube_id>_<int(start):06d>_<int(end):06d>`` (times truncated, as mmaction2 does)."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}"


_K400_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def read_kinetics_csv(
    csv_path: PathLike,
    data_root: PathLike,
    *,
    class_names: ClassNames = None,
    num_classes: int | None = None,
    ext: str = ".mp4",
    rawframes: bool = False,
    flat: bool = False,
) -> Annotations:
    """A Kinetics CSV (``kinetics_val.csv``): ``label,youtube_id,time_start,time_end,split``.

    Layout (mmaction2 ``--level 2``): the video of a row is
    ``<data_root>/<class_name>/<clip_id><ext>``, with ``class_name`` from
    :func:`kinetics_class_name` (``"air drumming"`` -> ``air_drumming``) and ``clip_id`` from
    :func:`kinetics_clip_id`. ``rawframes=True`` gives the frame directory
    ``<data_root>/<class_name>/<clip_id>`` instead; ``flat=True`` leaves out the class folder
    (``--level 1``). ``video_id`` is ``<class_name>/<clip_id>`` whatever the layout.

    Class indices: with ``class_names`` given (e.g. ``label_map_k400.txt``, names with spaces or
    underscores), a row's label is looked up after the same normalisation and an unknown name is
    reported. Without, the names are this CSV's labels normalised and sorted (mmaction2 derives
    them from ``kinetics_train.csv``; the same 400 names when the file covers every class). Pass
    ``num_classes`` to have a subset CSV, whose derived indices would be shifted, reported.

    A header row (it contains ``youtube_id``) is skipped and its column names are used, so extra
    or reordered columns work; without one the columns are taken in the order above. Times may be
    integers or decimals; blank rows are skipped.
    """
    path = Path(csv_path)
    given = _resolve_class_names(class_names)
    _limit(given, num_classes, class_names)
    problems: list[str] = []
    columns, rows = _kinetics_rows(path, read_text(path), problems)
    parsed = [clip for clip in (_kinetics_clip(row, columns, problems) for row in rows) if clip]

    if given is not None:
        names = given
        index = {kinetics_class_name(n): i for i, n in enumerate(given)}
    else:
        names = sorted({name for _, _, name, _ in parsed})
        index = {n: i for i, n in enumerate(names)}
        if num_classes is not None and parsed and len(names) != num_classes and not problems:
            problems.append(
                f"{class_count_problem(len(names), num_classes)} (the CSV's labels); pass the "
                "class names (e.g. label_map_k400.txt) so that indices match"
            )

    root = Path(data_root)
    records: list[VideoRecord] = []
    for lineno, raw, name, clip_id in parsed:
        if name not in index:
            problems.append(f"{_where(lineno, raw)}: unknown class {_abbrev(str(name), 60)}")
            continue
        rel = clip_id if flat else f"{name}/{clip_id}"
        video = root / (rel if rawframes else rel + ext)
        records.append(VideoRecord(path=video, label=index[name], video_id=f"{name}/{clip_id}"))
    return _finish(path, records, names, problems)


def _kinetics_rows(
    path: Path, text: str, problems: list[str]
) -> tuple[dict[str, int], list[tuple[int, str, list[str]]]]:
    """The column of each Kinetics field (from a header row if there is one) and every data row
    as (line number, raw line, stripped fields)."""
    rows: list[tuple[int, str, list[str]]] = []
    raw_lines = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    columns = {name: i for i, name in enumerate(_K400_COLUMNS)}
    first = True
    try:
        for fields in reader:
            lineno = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            stripped = [f.strip() for f in fields]
            if first:
                first = False
                if "youtube_id" in stripped:
                    columns = _kinetics_header(path, lineno, stripped)
                    continue
            raw = raw_lines[lineno - 1] if lineno - 1 < len(raw_lines) else ",".join(fields)
            rows.append((lineno, raw, stripped))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: CSV syntax error: {exc}")
    return columns, rows


def _kinetics_header(path: Path, lineno: int, names: list[str]) -> dict[str, int]:
    header = {name: i for i, name in enumerate(names)}
    if "label" not in header:
        raise AnnotationError(
            path, [f"line {lineno}: header has no 'label' column (a Kinetics test CSV carries no labels)"]
        )
    absent = [c for c in _K400_COLUMNS if c not in header]
    if absent:
        raise AnnotationError(path, [f"line {lineno}: header lacks column(s) {', '.join(absent)}"])
    return {c: header[c] for c in _K400_COLUMNS}


def _kinetics_clip(
    row: tuple[int, str, list[str]], columns: dict[str, int], problems: list[str]
) -> tuple[int, str, str, str] | None:
    """(line number, raw line, class name, clip id) of one row, or None with its problems noted."""
    lineno, raw, fields = row
    where = _where(lineno, raw)
    width = max(columns.values()) + 1
    if len(fields) < width:
        problems.append(
            f"{where}: expected at least {width} fields "
            f"'label,youtube_id,time_start,time_end,split', got {len(fields)}"
        )
        return None
    youtube_id = fields[columns["youtube_id"]]
    line_problems = []
    if any(len(field) > MAX_FIELD for field in fields):
        problems.append(f"{where}: a field longer than {MAX_FIELD} characters")
        return None
    name = kinetics_class_name(fields[columns["label"]])
    if not name:
        line_problems.append("empty label")
    if not youtube_id:
        line_problems.append("empty youtube_id")
    times = []
    for col in ("time_start", "time_end"):
        value = fields[columns[col]]
        if not _NUMBER.fullmatch(value):
            line_problems.append(f"{col} {_abbrev(value, 30)} is not a number")
        elif float(value) < 0:
            line_problems.append(f"{col} {value} is negative")
        else:
            times.append(float(value))
    if line_problems:
        problems.append(f"{where}: {'; '.join(line_problems)}")
        return None
    return lineno, raw, name, kinetics_clip_id(youtube_id, times[0], times[1])


# --------------------------------------------------------------------------------------------
# UCF-101


def read_ucf101_split(
    class_ind: PathLike,
    split_list: PathLike,
    data_root: PathLike,
    *,
    rawframes: bool = False,
    num_classes: int | None = None,
) -> Annotations:
    """A UCF-101 split list with its ``classInd.txt``.

    ``split_list`` is a ``testlistNN.txt`` (``<ClassName>/v_<...>.avi`` per line) or a
    ``trainlistNN.txt`` (the same followed by the 1-based label). The label is the classInd index
    of the directory part minus 1, as mmaction2's ``build_file_list.py`` computes it; in a
    trainlist the written label must agree. ``rawframes=True`` maps ``Class/v_x.avi`` to the
    frame directory ``<data_root>/Class/v_x``; ``num_frames`` stays None (the split files carry
    no counts). ``video_id`` is the path as written in the list.
    """
    names = read_class_names(class_ind)
    if num_classes is not None and len(names) != num_classes:
        raise AnnotationError(class_ind, [class_count_problem(len(names), num_classes)])
    index = {n: i for i, n in enumerate(names)}
    path = Path(split_list)
    root = Path(data_root)
    records: list[VideoRecord] = []
    problems: list[str] = []
    for lineno, line in text_lines(read_text(path)):
        where = _where(lineno, line)
        fields = line.split()
        if len(fields) not in (1, 2):
            problems.append(f"{where}: expected '<ClassName>/<video>.avi [<label>]'")
            continue
        rel = fields[0]
        class_dir, sep, _ = rel.rpartition("/")
        if not sep or not class_dir:
            problems.append(f"{where}: expected '<ClassName>/<video>.avi', no class folder")
            continue
        class_name = class_dir.rsplit("/", 1)[-1]
        if class_name not in index:
            problems.append(
                f"{where}: unknown class {_abbrev(str(class_name), 60)} (not in {Path(class_ind).name})"
            )
            continue
        label = index[class_name]
        if len(fields) == 2:
            try:
                written = _count(fields[1], "label")
                if written != label + 1:
                    raise _LineProblem(
                        f"label {written} disagrees with class {_abbrev(str(class_name), 60)}, "
                        f"index {label + 1} in {Path(class_ind).name}"
                    )
            except _LineProblem as problem:
                problems.append(f"{where}: {problem}")
                continue
        target = str(Path(rel).with_suffix("")) if rawframes else rel
        records.append(VideoRecord(path=root / target, label=label, video_id=rel))
    return _finish(path, records, names, problems)


# --------------------------------------------------------------------------------------------
# Something-Something V2


def sthv2_template_key(template: str) -> str:
    """The labels.json key of a template: square brackets removed."""
    return template.replace("[", "").replace("]", "")


def _load_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            path, [f"line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"]
        ) from None
    except RecursionError:  # "[[[[..." thousands deep: one line, not a traceback
        raise AnnotationError(path, ["JSON nested too deeply"]) from None


def _line_of(text: str, needle: str) -> int | None:
    pos = text.find(needle)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def _names_from_label_map(path: Path, text: str, data: dict[str, Any]) -> list[str]:
    """``{name: index}`` (indices as ints or digit strings, 0..n-1) -> names by index."""
    problems: list[str] = []
    by_index: dict[int, str] = {}
    for name, value in data.items():
        line = _line_of(text, json.dumps(name, ensure_ascii=False))
        where = f"line {line} ({_abbrev(name)})" if line else _abbrev(name)
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INT.fullmatch(value.strip()))
        ):
            problems.append(f"{where}: index {_abbrev(str(value), 30)} is not an integer")
            continue
        i = int(value)
        if i < 0:
            problems.append(f"{where}: index {i} is negative")
        elif i in by_index:
            problems.append(f"{where}: index {i} also used by {by_index[i]!r}")
        else:
            by_index[i] = name
    if not problems:
        if not by_index:
            problems.append("no classes")
        else:
            gaps = [i for i in range(len(by_index)) if i not in by_index]
            if gaps:
                problems.append(f"class index {gaps[0]} missing (indices must run 0..n-1)")
    if problems:
        raise AnnotationError(path, problems)
    return [by_index[i] for i in range(len(by_index))]


def _array_item_lines(text: str) -> list[int]:
    """1-based start line of every element of the top-level JSON array in ``text``.

    ``text`` must already be known to be a valid JSON array.
    """
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    pos = ws.match(text, 0).end() + 1  # after '['
    pos = ws.match(text, pos).end()
    lines: list[int] = []
    line, counted = 1, 0
    while text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = ws.match(text, pos).end()
        if text[pos] == ",":
            pos = ws.match(text, pos + 1).end()
    return lines


def read_sthv2(
    labels_json: PathLike,
    validation_json: PathLike,
    data_root: PathLike,
    *,
    rawframes: bool = True,
    ext: str = ".webm",
    num_classes: int | None = None,
) -> Annotations:
    """Something-Something V2: ``something-something-v2-labels.json`` + ``...-validation.json``.

    Label = ``int(labels[template with '[' and ']' removed])``; class names are the labels.json
    keys ordered by index. ``rawframes=True`` (mmaction2's layout) gives the frame directory
    ``<data_root>/<id>``; otherwise the video ``<data_root>/<id><ext>``. ``video_id`` is the id.
    Problems name the line where an entry starts and its position (``entry N``, 1-based).
    """
    labels_path = Path(labels_json)
    labels_text = read_text(labels_path)
    label_map = _load_json(labels_path, labels_text)
    if not isinstance(label_map, dict):
        raise AnnotationError(
            labels_path, ["expected a JSON object mapping template -> index (labels.json)"]
        )
    names = _names_from_label_map(labels_path, labels_text, label_map)
    if num_classes is not None and len(names) != num_classes:
        raise AnnotationError(labels_path, [class_count_problem(len(names), num_classes)])
    index = {n: i for i, n in enumerate(names)}

    path = Path(validation_json)
    text = read_text(path)
    entries = _load_json(path, text)
    if not isinstance(entries, list):
        hint = " (this looks like labels.json)" if isinstance(entries, dict) else ""
        raise AnnotationError(path, [f"expected a JSON list of videos{hint}"])
    item_lines = _array_item_lines(text)

    root = Path(data_root)
    records: list[VideoRecord] = []
    problems: list[str] = []
    for n, (entry, line) in enumerate(zip(entries, item_lines), start=1):
        where = f"line {line}: entry {n}"
        if not isinstance(entry, dict):
            problems.append(f"{where} ({_abbrev(json.dumps(entry))}): expected an object")
            continue
        video_id = entry.get("id")
        if isinstance(video_id, int) and not isinstance(video_id, bool):
            video_id = str(video_id)
        if not isinstance(video_id, str) or not video_id.strip():
            problems.append(f"{where} ({_abbrev(json.dumps(entry))}): no 'id'")
            continue
        where = f"{where} (id {video_id})"
        template = entry.get("template")
        if not isinstance(template, str):
            problems.append(f"{where}: no 'template' (a test-set file carries no labels)")
            continue
        key = sthv2_template_key(template)
        if key not in index:
            problems.append(f"{where}: template {_abbrev(key)} not in {labels_path.name}")
            continue
        video = root / (video_id if rawframes else video_id + ext)
        records.append(VideoRecord(path=video, label=index[key], video_id=video_id))
    return _finish(path, records, names, problems)


# --------------------------------------------------------------------------------------------
# auto-detection and the generic entry point


_UCF_LIST_NAME = re.compile(r"(train|test)list\d*\.txt", re.IGNORECASE)
_STHV2_LABELS = ("something-something-v2-labels.json", "labels.json")


def detect_format(path: PathLike) -> str:
    """Guess the format of an annotation file from its name and first data line.

    * ``.json`` -> ``sthv2``;
    * ``.csv`` -> ``kinetics_csv`` when the first line has ``youtube_id`` or four or more comma
      separated fields, else ``pyslowfast``;
    * ``trainlistNN.txt`` / ``testlistNN.txt``, or a first line with a single field -> ``ucf101``;
    * last two fields integers (and at least three fields) -> ``rawframes``;
    * last field an integer -> ``videos``.

    Ambiguous cases (a video path ending in `` <int>`` with a space before it reads as a
    rawframe line) can be settled with an explicit format.
    """
    path = Path(path)
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "sthv2"
    first = next(text_lines(text), None)
    if first is None:
        raise AnnotationError(path, ["no entries (the file holds no videos)"])
    lineno, line = first
    if suffix == ".csv":
        if "youtube_id" in line or len(line.split(",")) >= 4:
            return "kinetics_csv"
        return "pyslowfast"
    if _UCF_LIST_NAME.fullmatch(path.name):
        return "ucf101"
    if path.name.lower() == "classind.txt":
        raise AnnotationError(
            path, ["this is a class index file; pass the split list (testlistNN.txt) instead"]
        )
    fields = line.split()
    if len(fields) == 1:
        return "ucf101"
    if len(fields) >= 3 and _INT.fullmatch(fields[-1]) and _INT.fullmatch(fields[-2]):
        return "rawframes"
    if _INT.fullmatch(fields[-1]):
        return "videos"
    if len(fields) == 2 and _INT.fullmatch(fields[0]):
        raise AnnotationError(
            path, [f"{_where(lineno, line)}: looks like a class list '<index> <name>', not videos"]
        )
    raise AnnotationError(
        path, [f"{_where(lineno, line)}: format not recognised; expected {_format_list()}"])


def _companion(path: Path, given: PathLike | None, candidates: Sequence[str], what: str) -> Path:
    if given is not None:
        return Path(given)
    for name in candidates:
        candidate = path.parent / name
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(path.parent / n) for n in candidates)
    raise AnnotationError(path, [f"needs {what}: pass it as labels= (looked for {looked})"])


@dataclass(frozen=True)
class _Request:
    """What :func:`read_annotations` was asked for, handed to the format's reader."""

    path: Path
    data_root: PathLike
    labels: PathLike | None
    class_names: ClassNames
    num_classes: int | None
    rawframes: bool | None
    ext: str | None


def _list_reader(read: Any) -> Any:
    def run(r: _Request) -> Annotations:
        if r.rawframes is not None or r.ext is not None:
            raise UsageError(f"rawframes/ext do not apply to {r.path.name}: the file names each video")
        return read(r.path, r.data_root, class_names=r.class_names, num_classes=r.num_classes)

    return run


def _kinetics(r: _Request) -> Annotations:
    return read_kinetics_csv(r.path, r.data_root, class_names=r.class_names,
                             num_classes=r.num_classes, ext=".mp4" if r.ext is None else r.ext,
                             rawframes=bool(r.rawframes))


def _ucf101(r: _Request) -> Annotations:
    if r.ext is not None:
        raise UsageError("ext does not apply to UCF-101 split lists: they name each video")
    class_ind = _companion(r.path, r.labels, ("classInd.txt",), "classInd.txt")
    return read_ucf101_split(class_ind, r.path, r.data_root, rawframes=bool(r.rawframes),
                             num_classes=r.num_classes)


def _sthv2(r: _Request) -> Annotations:
    labels_json = _companion(r.path, r.labels, _STHV2_LABELS, "the labels.json of Something-Something V2")
    return read_sthv2(labels_json, r.path, r.data_root,
                      rawframes=True if r.rawframes is None else r.rawframes,
                      ext=".webm" if r.ext is None else r.ext, num_classes=r.num_classes)


@dataclass(frozen=True)
class AnnotationFormat:
    """One accepted annotation format: its ``--ann-format`` name, what it is (one line), its reader
    and, for the two-file formats, the companion file that names the classes."""

    name: str
    description: str
    read: Callable[[_Request], Annotations]
    companion: str | None = None  # the file that carries the class names (no names may be passed)


#: Every accepted annotation format: the one table that ``--ann-format`` (its choices and help),
#: :func:`read_annotations`, :func:`detect_format`'s error and the docs read.
ANNOTATION_FORMATS: dict[str, AnnotationFormat] = {f.name: f for f in (
    AnnotationFormat("videos", "mmaction2 video list, '<path> <label>' per line",
                     _list_reader(read_video_list)),
    AnnotationFormat("rawframes", "mmaction2 rawframe list, '<frame_dir> <total_frames> <label>' "
                     "per line", _list_reader(read_rawframe_list)),
    AnnotationFormat("kinetics_csv", "Kinetics CSV 'label,youtube_id,time_start,time_end,split'",
                     _kinetics),
    AnnotationFormat("pyslowfast", "PySlowFast test.csv, '<path> <label>' split on one space",
                     _list_reader(read_pyslowfast_csv)),
    AnnotationFormat("ucf101", "UCF-101 testlistNN.txt / trainlistNN.txt with classInd.txt",
                     _ucf101, companion="classInd.txt"),
    AnnotationFormat("sthv2", "Something-Something V2 validation.json with labels.json", _sthv2,
                     companion="labels.json"),
)}
#: The format names, in the table's order.
FORMATS: tuple[str, ...] = tuple(ANNOTATION_FORMATS)


def _format_list() -> str:
    return "; ".join(f"{f.name} ({f.description})" for f in ANNOTATION_FORMATS.values())


def format_help() -> str:
    """``--ann-format``'s help: every format with its description, from the table."""
    return "annotation format: auto (from the file's name and first line, the default); " + \
        _format_list()


def read_annotations(
    path: PathLike,
    data_root: PathLike,
    *,
    format: str = "auto",
    labels: PathLike | None = None,
    class_names: ClassNames = None,
    num_classes: int | None = None,
    rawframes: bool | None = None,
    ext: str | None = None,
) -> Annotations:
    """Read any supported annotation file; ``format="auto"`` uses :func:`detect_format`.

    ``labels`` is the companion file of the two-file formats: ``classInd.txt`` for UCF-101 and
    ``labels.json`` for Something-Something V2; when omitted it is looked for next to ``path``
    (``classInd.txt``; ``something-something-v2-labels.json`` or ``labels.json``).
    ``class_names`` (list or file) applies to the list and CSV formats; the two-file formats take
    their names from the companion file. ``num_classes`` (the model's) enables the range checks.
    ``rawframes`` and ``ext`` apply where the file does not name the video itself (Kinetics CSV,
    UCF-101, Sth-v2); None keeps each reader's default.
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    chosen = ANNOTATION_FORMATS.get(fmt)
    if chosen is None:
        raise UsageError(
            f"unknown annotation format {format!r}; choose one of auto, {', '.join(FORMATS)}"
        )
    if chosen.companion is not None and class_names is not None:
        raise UsageError(
            f"{fmt} annotations take their class names from {chosen.companion}; "
            "do not pass class names"
        )
    return chosen.read(_Request(path, data_root, labels, class_names, num_classes, rawframes, ext))
