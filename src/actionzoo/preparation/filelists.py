"""Split files as mmaction2's ``tools/data/build_file_list.py`` writes them.

Rules (mmaction2 ``tools/data/build_file_list.py``, ``tools/data/parse_file_list.py``):

* the frames on disk: ``parse_directory`` counts, per video folder (``SRC/*`` at level 1,
  ``SRC/*/*`` at level 2), the files whose names start with ``img_``; the key is ``video`` or
  ``Class/video``. With ``--format videos`` the files ``SRC/*`` / ``SRC/*/*`` are the videos,
  keyed by their path without extension;
* the split's videos in the split file's order; a video missing on disk (or a frame folder with
  no ``img_`` file) is skipped, as the reference does silently (here it is counted);
* rawframes lines ``f'{key} {num_frames} {label}\\n'``, videos lines
  ``f'{relative video path} {label}\\n'``;
* names ``{dataset}_{train,val}_split_{k}_{format}.txt`` for several splits (UCF-101 has 3),
  ``{dataset}_{train,val}_list_{format}.txt`` for one (Something-Something V2, Kinetics);
* ``--shuffle`` in the reference is an unseeded ``random.shuffle``, so its order cannot be
  reproduced; here ``seed`` makes it reproducible (``random.Random(seed)``, the lists shuffled in
  the order they are written). Without shuffle the files are byte-identical to the reference's.

Labels: UCF-101 ``classInd.txt`` ``idx name`` -> ``idx - 1``, looked up by the split line's class
folder (``parse_ucf101_splits``); Something-Something V2 ``labels.json`` maps the template with
``[`` and ``]`` removed to the label (``parse_sthv2_splits``); Kinetics-400: the train CSV's
classes (quotes removed, spaces -> ``_``) sorted, indexed from 0, keys
``{youtube_id}_{start:06d}_{end:06d}`` (``parse_kinetics_splits``).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from actionzoo.errors import AnnotationError, UsageError
from actionzoo.fileio.atomic import write_text_atomic
from actionzoo.fileio.text import read_lines, read_text

__all__ = ["DATASETS", "FORMATS", "FileListReport", "prepare_filelist", "parse_directory"]

DATASETS = ("ucf101", "sthv2", "kinetics400")
#: The lists written: two formats of ``data.annotations.ANNOTATION_FORMATS``, which reads them back.
FORMATS = ("rawframes", "videos")

Split = tuple[list[tuple[str, int]], list[tuple[str, int]]]  # (train, val) of (key, label)


@dataclass
class FileListReport:
    """Files written, with their line counts and the listed videos missing on disk."""

    written: dict[Path, int] = field(default_factory=dict)
    missing: dict[Path, int] = field(default_factory=dict)
    shuffled_with_seed: int | None = None

    def lines(self) -> list[str]:
        out = []
        for path, count in self.written.items():
            missing = self.missing.get(path, 0)
            skipped = f"; {missing} listed videos missing on disk, skipped" if missing else ""
            out.append(f"wrote {path} ({count} videos{skipped})")
        return out


# ----------------------------------------------------------------------------------- on disk


def _entries(src: Path, level: int) -> list[Path]:
    if level not in (1, 2):
        raise UsageError(f"--level must be 1 or 2, got {level}")
    if not src.is_dir():
        raise UsageError(f"{src}: no such folder")
    return sorted(src.glob("/".join(["*"] * level)))


def _key(path: Path, level: int) -> str:
    return "/".join(path.parts[-level:])


def parse_directory(src: Path, level: int) -> dict[str, int]:
    """``key -> number of img_* files`` for every frame folder (``parse_directory``)."""
    counts = {}
    for folder in _entries(src, level):
        if folder.is_dir() and not folder.name.startswith("."):  # skip our own partial folders
            counts[_key(folder, level)] = sum(1 for name in folder.iterdir() if name.name.startswith("img_"))
    return counts


def _video_files(src: Path, level: int) -> dict[str, str]:
    """``key (path without extension) -> relative video path``."""
    return {_key(path.with_suffix(""), level): path.relative_to(src).as_posix()
            for path in _entries(src, level) if path.is_file()}


# ----------------------------------------------------------------------------------- splits


def _first_existing(folder: Path, names: list[str]) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise UsageError(f"{folder}: none of {', '.join(names)} found")


def _ucf_key(video_path: str, level: int) -> str:
    stem = PurePosixPath(video_path).with_suffix("")
    return stem.name if level == 1 else f"{stem.parent.name}/{stem.name}"


def ucf101_splits(annotations: Path, level: int) -> list[Split]:
    class_file = annotations / "classInd.txt"
    mapping: dict[str, int] = {}
    problems = []
    for n, line in read_lines(class_file, comments=False):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            problems.append(f"line {n}: expected 'index ClassName', got {line!r}")
            continue
        mapping[parts[1]] = int(parts[0]) - 1
    if problems:
        raise AnnotationError(class_file, problems)

    def read(path: Path) -> list[tuple[str, int]]:
        items, bad = [], []
        for n, line in read_lines(path, comments=False):
            parts = line.split()
            folder = str(PurePosixPath(parts[0]).parent)
            if folder not in mapping:
                bad.append(f"line {n}: class folder {folder!r} of {parts[0]!r} is not in {class_file.name}")
                continue
            items.append((_ucf_key(parts[0], level), mapping[folder]))
        if bad:
            raise AnnotationError(path, bad)
        return items

    return [(read(annotations / f"trainlist0{k}.txt"), read(annotations / f"testlist0{k}.txt"))
            for k in (1, 2, 3)]


def sthv2_splits(annotations: Path, level: int) -> list[Split]:
    label_file = _first_existing(annotations, ["something-something-v2-labels.json", "labels.json"])
    try:
        mapping = json.loads(read_text(label_file))
    except json.JSONDecodeError as error:
        raise UsageError(f"{label_file}: not valid JSON ({error})") from None

    def read(names: list[str]) -> list[tuple[str, int]]:
        path = _first_existing(annotations, names)
        try:
            items = json.loads(read_text(path))
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}: not valid JSON ({error})") from None
        out, bad = [], []
        for n, item in enumerate(items):
            try:
                video = PurePosixPath(str(item["id"]))
                template = item["template"].replace("[", "").replace("]", "")
                label = int(mapping[template])
            except (KeyError, TypeError, ValueError) as error:
                bad.append(f"key item {n}: no usable id/template ({type(error).__name__}: {error})")
                continue
            out.append((video.name if level == 1 else f"{video.parent.name}/{video.name}", label))
        if bad:
            raise AnnotationError(path, bad)
        return out

    return [(read(["something-something-v2-train.json", "train.json"]),
             read(["something-something-v2-validation.json", "validation.json"]))]


def _kinetics_label(text: str) -> str:
    return text.replace('"', "").replace(" ", "_")


def kinetics400_splits(annotations: Path, level: int) -> list[Split]:
    train_file = _first_existing(annotations, ["kinetics_train.csv", "train.csv"])
    val_file = _first_existing(annotations, ["kinetics_val.csv", "validate.csv", "val.csv"])

    def rows(path: Path) -> list[list[str]]:
        return list(csv.reader(read_text(path).splitlines()))[1:]  # the first line is the header

    classes = sorted({_kinetics_label(row[0]) for row in rows(train_file) if row})
    mapping = {name: i for i, name in enumerate(classes)}

    def read(path: Path) -> list[tuple[str, int]]:
        out, bad = [], []
        for n, row in enumerate(rows(path), start=2):
            if not row:
                continue
            try:
                video = f"{row[1]}_{int(float(row[2])):06d}_{int(float(row[3])):06d}"
                label = mapping[_kinetics_label(row[0])]
            except (IndexError, ValueError, KeyError) as error:
                bad.append(f"line {n}: expected label,youtube_id,time_start,time_end,... "
                           f"with a class of the train CSV ({type(error).__name__}: {error})")
                continue
            out.append((f"{_kinetics_label(row[0])}/{video}" if level == 2 else video, label))
        if bad:
            raise AnnotationError(path, bad)
        return out

    return [(read(train_file), read(val_file))]


_PARSERS = {"ucf101": ucf101_splits, "sthv2": sthv2_splits, "kinetics400": kinetics400_splits}


# ----------------------------------------------------------------------------------- writing


def prepare_filelist(
    dataset: str,
    src: str | Path,
    *,
    annotations: str | Path,
    out_dir: str | Path,
    format: str = "rawframes",
    level: int = 2,
    shuffle: bool = False,
    seed: int = 0,
) -> FileListReport:
    """Write the train/val split files of ``dataset`` for the frames (or videos) under ``src``."""
    if dataset not in _PARSERS:
        raise UsageError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    if format not in FORMATS:
        raise UsageError(f"unknown --format {format!r}; choose from {', '.join(FORMATS)}")
    src, out_dir = Path(src), Path(out_dir)
    splits = _PARSERS[dataset](Path(annotations), level)
    on_disk: dict[str, object] = parse_directory(src, level) if format == "rawframes" else _video_files(src, level)
    rng = random.Random(seed) if shuffle else None
    report = FileListReport(shuffled_with_seed=seed if shuffle else None)
    for k, (train, val) in enumerate(splits, start=1):
        for subset, items in (("train", train), ("val", val)):
            name = (f"{dataset}_{subset}_split_{k}_{format}.txt" if len(splits) > 1
                    else f"{dataset}_{subset}_list_{format}.txt")
            lines, missing = [], 0
            for key, label in items:
                found = on_disk.get(key)
                if format == "rawframes" and found:  # 0 img_ files: skipped, as in the reference
                    lines.append(f"{key} {found} {label}\n")
                elif format == "videos" and found is not None:
                    lines.append(f"{found} {label}\n")
                else:
                    missing += 1
            if rng is not None:
                rng.shuffle(lines)
            path = write_text_atomic(out_dir / name, "".join(lines))
            report.written[path] = len(lines)
            report.missing[path] = missing
    return report
