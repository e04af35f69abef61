"""The annotation formats are stated once (``data.annotations.ANNOTATION_FORMATS``), and every
parser of a user's text file reads it through one line reader (``fileio.text``): the same file
gives the same one-line error whichever parser reads it."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

import actionzoo
from actionzoo.ava.annotations import read_frame_list, read_labelmap, read_person_boxes_csv
from actionzoo.cli.main import build_parser
from actionzoo.data.annotations import (
    ANNOTATION_FORMATS,
    FORMATS,
    detect_format,
    read_annotations,
    read_video_list,
)
from actionzoo.errors import AnnotationError, UsageError
from actionzoo.fileio.text import read_lines
from actionzoo.preparation import filelists

SRC = Path(actionzoo.__file__).parent


def _ann_format_actions(parser: argparse.ArgumentParser, path: str = "actionzoo"):
    for action in parser._actions:
        if "--ann-format" in action.option_strings:
            yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _ann_format_actions(sub, f"{path} {name}")


def test_every_verb_offers_the_formats_of_the_one_table() -> None:
    found = list(_ann_format_actions(build_parser()))
    verbs = {verb for verb, _ in found}
    assert {"actionzoo eval", "actionzoo train", "actionzoo export"} <= verbs
    for verb, action in found:
        assert tuple(action.choices) == ("auto", *FORMATS), verb
        assert action.default == "auto"
        for f in ANNOTATION_FORMATS.values():
            assert f"{f.name} ({f.description})" in action.help, (verb, f.name)
    # the split lists `prepare filelist` writes are formats of the table, read back by it
    assert set(filelists.FORMATS) <= set(FORMATS)


def test_the_errors_name_the_formats_of_the_table(tmp_path: Path) -> None:
    ann = tmp_path / "a.txt"
    ann.write_text("v.mp4 0\n")
    with pytest.raises(UsageError) as caught:
        read_annotations(ann, tmp_path, format="mp4list")
    assert str(caught.value).endswith("choose one of auto, " + ", ".join(FORMATS))
    odd = tmp_path / "odd.txt"
    odd.write_text("what is this\n")
    with pytest.raises(AnnotationError) as caught:
        detect_format(odd)
    assert all(f"{f.name} ({f.description})" in str(caught.value) for f in ANNOTATION_FORMATS.values())
    for f in ANNOTATION_FORMATS.values():
        if f.companion:
            with pytest.raises(UsageError, match=f"take their class names from {f.companion}"):
                read_annotations(ann, tmp_path, format=f.name, class_names=["a"])


def test_no_other_module_states_the_format_list() -> None:
    names = set(FORMATS)
    # "ucf101", "sthv2" and "pyslowfast" also name datasets, class lists and checkpoint layouts;
    # a list of formats holds one of these
    format_only = {"videos", "rawframes", "kinetics_csv"}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel == Path("data/annotations.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                listed = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                # preparation/filelists.FORMATS: the two lists it writes (checked above)
                if len(listed) >= 2 and listed & format_only and \
                        rel != Path("preparation/filelists.py"):
                    found.append(f"{rel}:{node.lineno}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if "kinetics_csv" in node.value and sum(n in node.value for n in names) >= 3:
                    found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_one_reader_gives_every_parser_the_same_errors(tmp_path: Path) -> None:
    parsers = {
        "annotation list": lambda p: read_video_list(p, tmp_path),
        "AVA label map": read_labelmap,
        "AVA person boxes": read_person_boxes_csv,
        "AVA frame list": read_frame_list,
        "UCF-101 classInd (prepare filelist)": lambda p: filelists.ucf101_splits(p.parent, 2),
    }
    bad = tmp_path / "classInd.txt"
    bad.write_bytes(b"1 a\n\xff\xfe 2\n")
    (tmp_path / "folder").mkdir()
    cases = {bad: f"{bad}: line 2: not UTF-8 text (byte 4)",
             tmp_path / "folder": f"{tmp_path / 'folder'}: is a directory, expected an annotation file"}
    for what, parse in parsers.items():
        for path, message in cases.items():
            if path.is_dir() and what.startswith("UCF"):
                continue  # that parser takes the folder and names the file in it
            with pytest.raises(AnnotationError) as caught:
                parse(path)
            assert str(caught.value) == message, what
    missing = tmp_path / "nope" / "classInd.txt"
    for what, parse in parsers.items():
        with pytest.raises(AnnotationError) as caught:
            parse(missing)
        assert str(caught.value) == f"{missing}: file not found", what


def test_the_reader_numbers_lines_from_one_past_blanks_comments_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_bytes("\ufeffa 1\r\n\r\n  # note\n  b 2  \n".encode())
    assert list(read_lines(path)) == [(1, "a 1"), (4, "b 2")]
    assert list(read_lines(path, comments=False)) == [(1, "a 1"), (3, "# note"), (4, "b 2")]


def test_no_other_module_reads_a_users_text_its_own_way() -> None:
    """``decode("utf-8-sig")`` and ``enumerate(text.splitlines(), ...)`` belong to fileio/text.py."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel == Path("fileio/text.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr == "decode" and any(
                        isinstance(a, ast.Constant) and a.value == "utf-8-sig" for a in node.args):
                    found.append(f"{rel}:{node.lineno} decodes text")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "enumerate" and \
                    node.args and isinstance(node.args[0], ast.Call) and \
                    getattr(node.args[0].func, "attr", None) == "splitlines":
                found.append(f"{rel}:{node.lineno} numbers lines")
    assert found == []
