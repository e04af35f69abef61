"""Annotation readers: every format, every kind of problem, auto-detection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from actionzoo.data.annotations import (
    Annotations,
    VideoRecord,
    detect_format,
    kinetics_class_name,
    kinetics_clip_id,
    missing_videos,
    read_annotations,
    read_class_names,
    read_kinetics_csv,
    read_pyslowfast_csv,
    read_rawframe_list,
    read_sthv2,
    read_ucf101_split,
    read_video_list,
    sthv2_template_key,
)
from actionzoo.errors import AnnotationError, UsageError


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def problems_of(excinfo: pytest.ExceptionInfo[AnnotationError]) -> list[str]:
    return excinfo.value.problems


# ---------------------------------------------------------------------------------------------
# mmaction2 video list


def test_video_list_real_lines(tmp: Path) -> None:
    ann = write(
        tmp / "kinetics400_val_list_videos.txt",
        "abseiling/--07WQ2iBlw_000001_000011.mp4 0\n"
        "air_drumming/-VtLx-mcPds_000012_000022.mp4 1\n",
    )
    result = read_video_list(ann, tmp / "videos_val")
    assert isinstance(result, Annotations)
    assert result.source == ann
    assert result.class_names is None
    assert result.records == [
        VideoRecord(
            tmp / "videos_val/abseiling/--07WQ2iBlw_000001_000011.mp4",
            0,
            None,
            "abseiling/--07WQ2iBlw_000001_000011.mp4",
        ),
        VideoRecord(
            tmp / "videos_val/air_drumming/-VtLx-mcPds_000012_000022.mp4",
            1,
            None,
            "air_drumming/-VtLx-mcPds_000012_000022.mp4",
        ),
    ]
    assert len(result) == 2


def test_video_list_spaces_in_path_blank_comment_crlf(tmp: Path) -> None:
    ann = write(
        tmp / "list.txt",
        "# made by hand\n\nmy videos/clip  one.mp4   7\n   \nb.mp4\t3\n",
        newline="\r\n",
    )
    result = read_video_list(ann, "root")
    assert [r.video_id for r in result] == ["my videos/clip  one.mp4", "b.mp4"]
    assert [r.path for r in result] == [Path("root/my videos/clip  one.mp4"), Path("root/b.mp4")]
    assert [r.label for r in result] == [7, 3]


def test_video_list_class_names_give_range_and_names(tmp: Path) -> None:
    ann = write(tmp / "list.txt", "a.mp4 1\n")
    result = read_video_list(ann, tmp, class_names=["x", "y"])
    assert result.class_names == ["x", "y"]
    assert result.num_classes == 2
    names_file = write(tmp / "names.txt", "air drumming\nabseiling\n")
    assert read_video_list(ann, tmp, class_names=names_file).class_names == [
        "air drumming",
        "abseiling",
    ]
    with pytest.raises(AnnotationError, match=r"line 1 .*label 1 out of range for 1 classes"):
        read_video_list(ann, tmp, num_classes=1)
    with pytest.raises(UsageError, match=r"^class_names: 2 class names for a model with 3 outputs$"):
        read_video_list(ann, tmp, class_names=["x", "y"], num_classes=3)
    with pytest.raises(UsageError, match=rf"^{re.escape(str(names_file))}: 2 class names for a "
                       r"model with 3 outputs$"):
        read_video_list(ann, tmp, class_names=names_file, num_classes=3)


def test_video_list_every_problem_reported_with_line_numbers(tmp: Path) -> None:
    ann = write(
        tmp / "bad.txt",
        "good.mp4 0\n"
        "lonely.mp4\n"  # line 2: one field
        "\n"
        "x.mp4 three\n"  # line 4: not an integer
        "y.mp4 -2\n"  # line 5: negative
        "z.mp4 5\n"  # line 6: out of range
        "ok.mp4 4\n",
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_video_list(ann, tmp, num_classes=5)
    problems = problems_of(excinfo)
    assert len(problems) == 4
    assert problems[0].startswith("line 2 ('lonely.mp4'): expected '<path> <label>'")
    assert problems[1].startswith("line 4 ('x.mp4 three'): label 'three' is not an integer")
    assert problems[2].startswith("line 5 ('y.mp4 -2'): label -2 is negative")
    assert problems[3].startswith("line 6 ('z.mp4 5'): label 5 out of range for 5 classes")
    message = str(excinfo.value)
    assert message.startswith(f"{ann}: line 2 ")
    assert message.endswith("(and 3 more problems)")
    assert excinfo.value.path == str(ann)


def test_long_line_is_abbreviated(tmp: Path) -> None:
    ann = write(tmp / "long.txt", "d/" + "x" * 500 + ".mp4 oops\n")
    with pytest.raises(AnnotationError) as excinfo:
        read_video_list(ann, tmp)
    problem = problems_of(excinfo)[0]
    assert "..." in problem and len(problem) < 150
    assert "label 'oops' is not an integer" in problem


def test_missing_empty_directory_and_binary_files(tmp: Path) -> None:
    with pytest.raises(AnnotationError, match="nope.txt: file not found"):
        read_video_list(tmp / "nope.txt", tmp)
    with pytest.raises(AnnotationError, match="no entries"):
        read_video_list(write(tmp / "empty.txt", "\n# only a comment\n"), tmp)
    (tmp / "adir").mkdir()
    with pytest.raises(AnnotationError, match="is a directory"):
        read_rawframe_list(tmp / "adir", tmp)
    (tmp / "bin.txt").write_bytes(b"a.mp4 1\n\xff\xfe 2\n")
    with pytest.raises(AnnotationError, match="line 2: not UTF-8"):
        read_video_list(tmp / "bin.txt", tmp)


# ---------------------------------------------------------------------------------------------
# mmaction2 rawframe list


def test_rawframe_list_kinetics_ucf_sthv2_lines(tmp: Path) -> None:
    ann = write(
        tmp / "val_rawframes.txt",
        "abseiling/--07WQ2iBlw_000001_000011 300 0\n"
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01 121 0\n"
        "74225 45 12\n"
        "dir with spaces/v_1 10 3\n",
    )
    result = read_rawframe_list(ann, tmp / "rawframes")
    assert [(r.video_id, r.num_frames, r.label) for r in result] == [
        ("abseiling/--07WQ2iBlw_000001_000011", 300, 0),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01", 121, 0),
        ("74225", 45, 12),
        ("dir with spaces/v_1", 10, 3),
    ]
    assert result.records[2].path == tmp / "rawframes" / "74225"


def test_rawframe_list_problems(tmp: Path) -> None:
    ann = write(
        tmp / "bad.txt",
        "a 10 1\n"
        "b 10\n"  # line 2: only two fields
        "c ten 1\n"  # line 3: frames not integer
        "d -5 x\n"  # line 4: two problems on one line
        "e 0 200\n",  # line 5: label out of range (0 frames is fine)
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_rawframe_list(ann, tmp, num_classes=174)
    problems = problems_of(excinfo)
    assert [p.split(" ", 2)[:2] for p in problems] == [
        ["line", "2"],
        ["line", "3"],
        ["line", "4"],
        ["line", "5"],
    ]
    assert "expected '<frame_dir> <total_frames> <label>'" in problems[0]
    assert "total_frames 'ten' is not an integer" in problems[1]
    assert "total_frames -5 is negative; label 'x' is not an integer" in problems[2]
    assert "label 200 out of range for 174 classes" in problems[3]
    zero = read_rawframe_list(write(tmp / "zero.txt", "e 0 2\n"), tmp)
    assert zero.records[0].num_frames == 0


# ---------------------------------------------------------------------------------------------
# PySlowFast test.csv


def test_pyslowfast_csv(tmp: Path) -> None:
    ann = write(tmp / "test.csv", "val/abseiling/a.mp4 0\nval/zumba/b.mp4 399\n")
    result = read_pyslowfast_csv(ann, "/data/k400", num_classes=400)
    assert [(str(r.path), r.label, r.video_id) for r in result] == [
        ("/data/k400/val/abseiling/a.mp4", 0, "val/abseiling/a.mp4"),
        ("/data/k400/val/zumba/b.mp4", 399, "val/zumba/b.mp4"),
    ]


def test_pyslowfast_csv_is_strict_about_separator(tmp: Path) -> None:
    ann = write(
        tmp / "test.csv",
        "a.mp4 1\n"
        "my video.mp4 2\n"  # space in path: three fields
        "b.mp4\t3\n"  # tab: one field
        "c.mp4  4\n"  # double space: three fields
        "d.mp4 x\n",
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_pyslowfast_csv(ann, tmp)
    problems = problems_of(excinfo)
    assert [p.split(" (")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 5"]
    assert "exactly two fields" in problems[0] and "got 3" in problems[0]
    assert "got 1" in problems[1]
    assert "got 3" in problems[2]
    assert "label 'x' is not an integer" in problems[3]


# ---------------------------------------------------------------------------------------------
# Kinetics CSV

K400_CSV = (
    "label,youtube_id,time_start,time_end,split\n"
    '"air drumming",-VtLx-mcPds,12,22,validate\n'
    "abseiling,--07WQ2iBlw,1,11,validate\n"
    '"passing American football (in game)",abc_DEF-123,95.5,105,validate\n'
    '"air drumming",zzz,0,10,validate\n'
)


def test_kinetics_helpers() -> None:
    assert kinetics_class_name('"air drumming"') == "air_drumming"
    assert kinetics_class_name("passing American football (in game)") == (
        "passing_American_football_(in_game)"
    )
    assert kinetics_clip_id("--07WQ2iBlw", 1, 11) == "--07WQ2iBlw_000001_000011"
    assert kinetics_clip_id("x", 95.9, 105.0) == "x_000095_000105"


def test_kinetics_csv_derived_names_and_layout(tmp: Path) -> None:
    ann = write(tmp / "kinetics_val.csv", K400_CSV)
    result = read_kinetics_csv(ann, tmp / "videos_val")
    # sorted after quote removal and space -> '_'
    assert result.class_names == [
        "abseiling",
        "air_drumming",
        "passing_American_football_(in_game)",
    ]
    assert [(r.video_id, r.label) for r in result] == [
        ("air_drumming/-VtLx-mcPds_000012_000022", 1),
        ("abseiling/--07WQ2iBlw_000001_000011", 0),
        ("passing_American_football_(in_game)/abc_DEF-123_000095_000105", 2),
        ("air_drumming/zzz_000000_000010", 1),
    ]
    assert result.records[1].path == tmp / "videos_val/abseiling/--07WQ2iBlw_000001_000011.mp4"
    frames = read_kinetics_csv(ann, tmp / "rawframes_val", rawframes=True)
    assert frames.records[1].path == tmp / "rawframes_val/abseiling/--07WQ2iBlw_000001_000011"
    flat = read_kinetics_csv(ann, tmp, flat=True, ext=".mkv")
    assert flat.records[1].path == tmp / "--07WQ2iBlw_000001_000011.mkv"
    assert flat.records[1].video_id == "abseiling/--07WQ2iBlw_000001_000011"


def test_kinetics_csv_given_names_with_spaces(tmp: Path) -> None:
    ann = write(tmp / "kinetics_val.csv", K400_CSV)
    names = ["passing American football (in game)", "air drumming", "abseiling", "zumba"]
    result = read_kinetics_csv(ann, tmp, class_names=names)
    assert result.class_names == names
    assert [r.label for r in result] == [1, 2, 0, 1]


def test_kinetics_csv_without_header_and_reordered_header(tmp: Path) -> None:
    body = "".join(K400_CSV.splitlines(keepends=True)[1:])
    plain = read_kinetics_csv(write(tmp / "noheader.csv", body), tmp)
    assert len(plain) == 4
    reordered = write(
        tmp / "reordered.csv",
        "youtube_id,label,time_start,time_end,split,is_cc\n--07WQ2iBlw,abseiling,1,11,val,0\n",
    )
    assert read_kinetics_csv(reordered, tmp).records[0].video_id == (
        "abseiling/--07WQ2iBlw_000001_000011"
    )


def test_kinetics_csv_problems(tmp: Path) -> None:
    ann = write(
        tmp / "bad.csv",
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,a,1,11,validate\n"
        "abseiling,b,one,11,validate\n"  # line 3
        "\n"
        "abseiling,c,1\n"  # line 5: too few fields
        '"juggling fire",d,-3,7,validate\n'  # line 6: negative (class not looked up)
        ",e,1,11,validate\n",  # line 7: empty label
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_kinetics_csv(ann, tmp, class_names=["abseiling"])
    problems = problems_of(excinfo)
    assert len(problems) == 4
    assert problems[0].startswith("line 3 ('abseiling,b,one,11,validate'): time_start 'one'")
    assert problems[1].startswith("line 5 ") and "expected at least 4 fields" in problems[1]
    assert problems[2].startswith("line 6 ") and "time_start -3 is negative" in problems[2]
    assert problems[3].startswith("line 7 ") and "empty label" in problems[3]
    good_times = write(tmp / "unknown.csv", K400_CSV)
    with pytest.raises(AnnotationError) as excinfo:
        read_kinetics_csv(good_times, tmp, class_names=["abseiling", "air drumming"])
    assert problems_of(excinfo) == [
        "line 4 ('\"passing American football (in game)\",abc_DEF-123,95.5,10...'): "
        "unknown class 'passing_American_football_(in_game)'"
    ]


def test_kinetics_csv_subset_and_test_csv_reported(tmp: Path) -> None:
    ann = write(tmp / "kinetics_val.csv", K400_CSV)
    with pytest.raises(AnnotationError, match=r"3 class names for a model with 400 outputs \(the CSV's labels\)"):
        read_kinetics_csv(ann, tmp, num_classes=400)
    test_csv = write(
        tmp / "kinetics_test.csv", "youtube_id,time_start,time_end,split\nab,1,11,test\n"
    )
    with pytest.raises(AnnotationError, match="line 1: header has no 'label' column"):
        read_kinetics_csv(test_csv, tmp)
    broken = write(
        tmp / "broken.csv", 'label,youtube_id,time_start,time_end,split\n"abseil,a,1,2,x\n'
    )
    with pytest.raises(AnnotationError, match="CSV syntax error|expected at least"):
        read_kinetics_csv(broken, tmp)


# ---------------------------------------------------------------------------------------------
# UCF-101

CLASS_IND = "1 ApplyEyeMakeup\n2 ApplyLipstick\n3 Archery\n37 HandstandPushups\n"


def ucf_class_ind(tmp: Path) -> Path:
    # the official file: indices 1..101, CRLF line ends; shortened, so renumber
    lines = [f"{i} {line.split()[1]}" for i, line in enumerate(CLASS_IND.splitlines(), start=1)]
    return write(tmp / "classInd.txt", "\n".join(lines) + "\n", newline="\r\n")


def test_ucf101_testlist(tmp: Path) -> None:
    class_ind = ucf_class_ind(tmp)
    testlist = write(
        tmp / "testlist01.txt",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n"
        "Archery/v_Archery_g03_c02.avi\n"
        "HandstandPushups/v_HandStandPushups_g01_c01.avi\n",
        newline="\r\n",
    )
    result = read_ucf101_split(class_ind, testlist, tmp / "videos")
    assert result.class_names == ["ApplyEyeMakeup", "ApplyLipstick", "Archery", "HandstandPushups"]
    assert [r.label for r in result] == [0, 2, 3]
    assert result.records[1].path == tmp / "videos/Archery/v_Archery_g03_c02.avi"
    assert result.records[1].video_id == "Archery/v_Archery_g03_c02.avi"
    assert result.records[0].num_frames is None
    frames = read_ucf101_split(class_ind, testlist, tmp / "rawframes", rawframes=True)
    assert frames.records[2].path == tmp / "rawframes/HandstandPushups/v_HandStandPushups_g01_c01"
    assert frames.records[2].video_id == "HandstandPushups/v_HandStandPushups_g01_c01.avi"


def test_ucf101_trainlist_label_checked(tmp: Path) -> None:
    class_ind = ucf_class_ind(tmp)
    trainlist = write(
        tmp / "trainlist01.txt",
        "ApplyLipstick/v_ApplyLipstick_g08_c01.avi 2\nArchery/v_Archery_g08_c01.avi 1\n",
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_ucf101_split(class_ind, trainlist, tmp)
    assert problems_of(excinfo) == [
        "line 2 ('Archery/v_Archery_g08_c01.avi 1'): label 1 disagrees with class 'Archery', "
        "index 3 in classInd.txt"
    ]


def test_ucf101_problems(tmp: Path) -> None:
    class_ind = ucf_class_ind(tmp)
    testlist = write(
        tmp / "testlist02.txt",
        "Archery/v_Archery_g03_c02.avi\n"
        "v_Archery_g03_c02.avi\n"  # 2: no class folder
        "Bowling/v_Bowling_g01_c01.avi\n"  # 3: unknown class
        "Archery/a.avi 3 extra\n",  # 4: too many fields
    )
    with pytest.raises(AnnotationError) as excinfo:
        read_ucf101_split(class_ind, testlist, tmp)
    problems = problems_of(excinfo)
    assert [p.split(" (")[0] for p in problems] == ["line 2", "line 3", "line 4"]
    assert "no class folder" in problems[0]
    assert "unknown class 'Bowling' (not in classInd.txt)" in problems[1]
    with pytest.raises(AnnotationError, match="4 class names for a model with 101 outputs"):
        read_ucf101_split(class_ind, testlist, tmp, num_classes=101)


# ---------------------------------------------------------------------------------------------
# Something-Something V2

STHV2_LABELS = {
    "Approaching something with your camera": "0",
    "Putting something on a surface": "2",
    "Spinning something that quickly stops spinning": "1",
}
STHV2_VAL = [
    {
        "id": "74225",
        "label": "spinning cube that quickly stops spinning",
        "template": "Spinning [something] that quickly stops spinning",
        "placeholders": ["cube"],
    },
    {
        "id": "116154",
        "label": "putting a cup on a surface",
        "template": "Putting [something] on a surface",
        "placeholders": ["a cup"],
    },
]


def sthv2_files(tmp: Path, entries: list[object] | None = None) -> tuple[Path, Path]:
    labels = write(tmp / "something-something-v2-labels.json", json.dumps(STHV2_LABELS, indent=1))
    val = write(
        tmp / "something-something-v2-validation.json",
        json.dumps(STHV2_VAL if entries is None else entries, indent=4),
    )
    return labels, val


def test_sthv2(tmp: Path) -> None:
    labels, val = sthv2_files(tmp)
    key = sthv2_template_key("Putting [something] on [something]")
    assert key == "Putting something on something"
    result = read_sthv2(labels, val, tmp / "rawframes")
    assert result.class_names == [
        "Approaching something with your camera",
        "Spinning something that quickly stops spinning",
        "Putting something on a surface",
    ]
    assert [(r.video_id, r.label, r.path) for r in result] == [
        ("74225", 1, tmp / "rawframes/74225"),
        ("116154", 2, tmp / "rawframes/116154"),
    ]
    videos = read_sthv2(labels, val, tmp / "videos", rawframes=False)
    assert videos.records[0].path == tmp / "videos/74225.webm"


def test_sthv2_problems_name_the_line(tmp: Path) -> None:
    entries = [
        STHV2_VAL[0],
        {"id": "1", "template": "Dropping [something] into [something]"},
        {"id": "2", "label": "x"},
        "not an object",
    ]
    labels, val = sthv2_files(tmp, entries)
    lines = val.read_text().splitlines()
    starts = [
        i + 1
        for i, line in enumerate(lines)
        if line.startswith("    {") or line == '    "not an object"'
    ]
    with pytest.raises(AnnotationError) as excinfo:
        read_sthv2(labels, val, tmp)
    problems = problems_of(excinfo)
    assert problems == [
        f"line {starts[1]}: entry 2 (id 1): template 'Dropping something into something' "
        "not in something-something-v2-labels.json",
        f"line {starts[2]}: entry 3 (id 2): no 'template' (a test-set file carries no labels)",
        f"line {starts[3]}: entry 4 ('\"not an object\"'): expected an object",
    ]


def test_sthv2_bad_json_and_bad_labels(tmp: Path) -> None:
    labels, _ = sthv2_files(tmp)
    bad = write(tmp / "val.json", '[\n  {"id": "1",\n   "template": "x"\n  \n')
    with pytest.raises(AnnotationError, match=r"val\.json: line \d+: invalid JSON"):
        read_sthv2(labels, bad, tmp)
    bad2 = write(tmp / "val2.json", '[\n {"id": "1", "template": "x"},,\n]\n')
    with pytest.raises(AnnotationError, match=r"line 2: invalid JSON"):
        read_sthv2(labels, bad2, tmp)
    gap_map = {"a": "0", "b": "2", "c": "x", "d": "0"}
    gappy = write(tmp / "labels_gap.json", json.dumps(gap_map, indent=1))
    with pytest.raises(AnnotationError) as excinfo:
        read_class_names(gappy)
    assert problems_of(excinfo) == [
        "line 4 ('c'): index 'x' is not an integer",
        "line 5 ('d'): index 0 also used by 'a'",
    ]
    with pytest.raises(AnnotationError, match="class index 1 missing"):
        read_class_names(write(tmp / "l.json", json.dumps({"a": "0", "b": "2"})))
    with pytest.raises(AnnotationError, match="this looks like labels.json"):
        read_sthv2(labels, labels, tmp)


# ---------------------------------------------------------------------------------------------
# class names


def test_read_class_names_formats(tmp: Path) -> None:
    plain = write(tmp / "label_map_k400.txt", "abseiling\nair drumming\n\nanswering questions\n")
    assert read_class_names(plain) == ["abseiling", "air drumming", "answering questions"]
    class_ind = write(tmp / "classInd.txt", "2 ApplyLipstick\n1 ApplyEyeMakeup\n", newline="\r\n")
    assert read_class_names(class_ind) == ["ApplyEyeMakeup", "ApplyLipstick"]
    zero_based = write(tmp / "zero.txt", "0 a\n1 b c\n")
    assert read_class_names(zero_based) == ["a", "b c"]
    as_list = write(tmp / "names.json", json.dumps(["x", "y"]))
    assert read_class_names(as_list) == ["x", "y"]


def test_read_class_names_problems(tmp: Path) -> None:
    with pytest.raises(AnnotationError, match="line 3: class name 'a' repeated"):
        read_class_names(write(tmp / "dup.txt", "a\nb\na\n"))
    with pytest.raises(AnnotationError, match=r"line 2 \('1 b'\): index 1 repeated"):
        read_class_names(write(tmp / "dupi.txt", "1 a\n1 b\n2 c\n"))
    with pytest.raises(AnnotationError, match="class index 2 missing"):
        read_class_names(write(tmp / "gap.txt", "1 a\n3 c\n"))
    with pytest.raises(AnnotationError, match="start at 5"):
        read_class_names(write(tmp / "five.txt", "5 a\n6 c\n"))
    with pytest.raises(AnnotationError, match="no class names"):
        read_class_names(write(tmp / "none.txt", "\n"))


# ---------------------------------------------------------------------------------------------
# auto-detection and read_annotations


def test_detect_format(tmp: Path) -> None:
    cases = {
        "list_videos.txt": ("a b/c.mp4 3\n", "videos"),
        "list_rawframes.txt": ("a/b 300 3\n", "rawframes"),
        "sthv2_rawframes.txt": ("74225 45 12\n", "rawframes"),
        "kinetics_val.csv": (K400_CSV, "kinetics_csv"),
        "noheader.csv": ("abseiling,a,1,11,val\n", "kinetics_csv"),
        "test.csv": ("val/a.mp4 3\n", "pyslowfast"),
        "testlist01.txt": ("A/v_a.avi\n", "ucf101"),
        "trainlist01.txt": ("A/v_a.avi 1\n", "ucf101"),
        "mysplit.txt": ("# comment\nA/v_a.avi\n", "ucf101"),
        "val.json": ("[]", "sthv2"),
    }
    for name, (text, expected) in cases.items():
        assert detect_format(write(tmp / name, text)) == expected, name
    with pytest.raises(AnnotationError, match="class index file"):
        detect_format(write(tmp / "classInd.txt", CLASS_IND))
    with pytest.raises(AnnotationError, match="looks like a class list"):
        detect_format(write(tmp / "names.txt", "1 Archery\n"))
    with pytest.raises(AnnotationError, match=r"line 2 .*format not recognised"):
        detect_format(write(tmp / "junk.txt", "\nhello world\n"))


def test_read_annotations_auto(tmp: Path) -> None:
    videos = write(tmp / "v.txt", "a.mp4 1\n")
    assert read_annotations(videos, tmp).records[0].label == 1
    rawframes = write(tmp / "r.txt", "a 10 2\n")
    assert read_annotations(rawframes, tmp).records[0].num_frames == 10
    k400 = write(tmp / "k/kinetics_val.csv", K400_CSV)
    assert read_annotations(k400, tmp, rawframes=True).records[1].path == (
        tmp / "abseiling/--07WQ2iBlw_000001_000011"
    )
    ucf_dir = tmp / "ucfTrainTestlist"
    ucf_class_ind(ucf_dir)
    testlist = write(ucf_dir / "testlist01.txt", "Archery/v_Archery_g03_c02.avi\n")
    assert read_annotations(testlist, tmp).records[0].label == 2
    sth_dir = tmp / "sth"
    sth_dir.mkdir()
    _, val = sthv2_files(sth_dir)
    result = read_annotations(val, tmp, rawframes=False)
    assert result.records[0].path == tmp / "74225.webm"
    assert result.num_classes == 3


def test_read_annotations_companions_and_usage(tmp: Path) -> None:
    testlist = write(tmp / "lists/testlist01.txt", "Archery/v_Archery_g03_c02.avi\n")
    with pytest.raises(AnnotationError, match="needs classInd.txt: pass it as labels="):
        read_annotations(testlist, tmp)
    class_ind = ucf_class_ind(tmp / "elsewhere")
    assert read_annotations(testlist, tmp, labels=class_ind).records[0].label == 2
    val = write(tmp / "lists/validation.json", json.dumps(STHV2_VAL))
    with pytest.raises(AnnotationError, match="needs the labels.json"):
        read_annotations(val, tmp)
    write(tmp / "lists/labels.json", json.dumps(STHV2_LABELS))
    assert [r.label for r in read_annotations(val, tmp)] == [1, 2]
    videos = write(tmp / "v.txt", "a.mp4 1\n")
    with pytest.raises(UsageError, match="unknown annotation format 'mp4list'"):
        read_annotations(videos, tmp, format="mp4list")
    with pytest.raises(UsageError, match="take their class names from classInd.txt"):
        read_annotations(testlist, tmp, labels=class_ind, class_names=["a"])
    with pytest.raises(UsageError, match="rawframes/ext do not apply"):
        read_annotations(videos, tmp, rawframes=True)
    # an explicit format overrides detection: the same file read as a PySlowFast csv
    assert read_annotations(videos, tmp, format="pyslowfast").records[0].video_id == "a.mp4"
    # and a wrong explicit format reports every line
    with pytest.raises(AnnotationError, match="line 1 .*expected '<frame_dir>"):
        read_annotations(videos, tmp, format="rawframes")


def test_missing_videos(tmp: Path) -> None:
    (tmp / "here.mp4").write_bytes(b"")
    (tmp / "frames").mkdir()
    ann = write(tmp / "list.txt", "here.mp4 0\ngone.mp4 1\n")
    result = read_video_list(ann, tmp)
    assert [r.video_id for r in result.missing()] == ["gone.mp4"]
    assert missing_videos([VideoRecord(tmp / "frames", 0)]) == []


def test_the_one_line_message_lists_every_bad_line(tmp: Path) -> None:
    lines = ["ok.mp4 1"] + [f"bad{i}.mp4 x" if i % 3 == 0 else f"v{i}.mp4 {i % 4}" for i in range(1, 40)]
    (tmp / "list.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(AnnotationError) as excinfo:
        read_video_list(tmp / "list.txt", tmp, num_classes=4)
    message = str(excinfo.value)
    bad = [n for n, line in enumerate(lines, start=1) if "bad" in line]
    assert "\n" not in message
    assert message.startswith(f"{tmp / 'list.txt'}: line {bad[0]} ")
    assert f"also at lines {', '.join(map(str, bad[1:]))} (and {len(bad) - 1} more problems)" in message
