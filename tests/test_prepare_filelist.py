"""``actionzoo prepare filelist``: mmaction2's ``build_file_list.py`` output for generated trees."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import actionzoo
from actionzoo.errors import AnnotationError
from helpers import run_cli

# class -> {video: frames on disk}; v_Biking_g02_c01 is in the splits but not on disk
TREE = {
    "ApplyEyeMakeup": {"v_ApplyEyeMakeup_g01_c01": 5, "v_ApplyEyeMakeup_g02_c01": 3},
    "Biking": {"v_Biking_g01_c01": 7},
    "Archery": {"v_Archery_g01_c01": 2, "v_Archery_g03_c01": 4},
}


def make_frames(root: Path, level: int = 2) -> Path:
    for cls, videos in TREE.items():
        for video, count in videos.items():
            folder = root / cls / video if level == 2 else root / video
            folder.mkdir(parents=True)
            for i in range(1, count + 1):
                (folder / f"img_{i:05d}.jpg").write_bytes(b"x")
            (folder / "flow_x_00001.jpg").write_bytes(b"x")  # not counted: not img_
    return root


def make_ucf_annotations(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n3 Biking\n")
    for k in (1, 2, 3):
        train = ["Biking/v_Biking_g01_c01.avi 3", "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1",
                 "Biking/v_Biking_g02_c01.avi 3", "Archery/v_Archery_g03_c01.avi 2"]
        test = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "Archery/v_Archery_g01_c01.avi"]
        if k == 2:
            train, test = test[:1] + train[2:], train[:2] + test[1:]
            train = [line if " " in line else line + " 1" for line in train]
            test = [line.split()[0] for line in test]
        (root / f"trainlist0{k}.txt").write_text("\r\n".join(train) + "\r\n")  # the official files are CRLF
        (root / f"testlist0{k}.txt").write_text("\r\n".join(test) + "\r\n")
    return root


def expected_line(entry: str, level: int, fmt: str) -> str | None:
    """The reference rule for one split line: key (class/video or video), frames on disk, label
    from classInd minus 1 by class folder; None when the video is not on disk."""
    path = entry.split()[0]
    cls, name = path.split("/")
    video = name.rsplit(".", 1)[0]
    label = {"ApplyEyeMakeup": 0, "Archery": 1, "Biking": 2}[cls]
    count = TREE[cls].get(video)
    if count is None:
        return None
    key = f"{cls}/{video}" if level == 2 else video
    if fmt == "videos":
        return f"{cls}/{video}.avi {label}\n" if level == 2 else f"{video}.avi {label}\n"
    return f"{key} {count} {label}\n"


@pytest.mark.parametrize("level", [1, 2])
def test_ucf101_rawframes_lists_are_the_reference_bytes(tmp_path, level):
    frames = make_frames(tmp_path / "rawframes", level)
    annotations = make_ucf_annotations(tmp_path / "annotations")
    out = tmp_path / "lists"
    report = actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=out,
                                        format="rawframes", level=level)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"ucf101_{s}_split_{k}_rawframes.txt" for s in ("train", "val") for k in (1, 2, 3))
    for k in (1, 2, 3):
        for subset, source in (("train", "trainlist"), ("val", "testlist")):
            entries = (annotations / f"{source}0{k}.txt").read_text().splitlines()
            lines = [expected_line(e, level, "rawframes") for e in entries if e.strip()]
            path = out / f"ucf101_{subset}_split_{k}_rawframes.txt"
            assert path.read_bytes() == "".join(x for x in lines if x).encode()
            assert report.missing[path] == sum(x is None for x in lines)
    assert report.missing[out / "ucf101_train_split_1_rawframes.txt"] == 1  # v_Biking_g02_c01


def test_ucf101_video_lists_and_the_cli(tmp_path):
    videos = tmp_path / "videos"
    for cls, names in TREE.items():
        (videos / cls).mkdir(parents=True)
        for name in names:
            (videos / cls / f"{name}.avi").write_bytes(b"x")
    annotations = make_ucf_annotations(tmp_path / "annotations")
    out = tmp_path / "lists"
    result = run_cli(["prepare", "filelist", "ucf101", str(videos), "--annotations", str(annotations),
                      "--format", "videos", "--level", "2", "--out-dir", str(out)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ucf101_train_split_1_videos.txt (3 videos; 1 listed videos missing on disk, skipped)" in result.stdout
    entries = (annotations / "trainlist01.txt").read_text().splitlines()
    expected = "".join(x for x in (expected_line(e, 2, "videos") for e in entries) if x)
    assert (out / "ucf101_train_split_1_videos.txt").read_text() == expected


def test_seeded_shuffle_is_reproducible_and_a_permutation(tmp_path):
    frames = make_frames(tmp_path / "rawframes")
    annotations = make_ucf_annotations(tmp_path / "annotations")
    plain, a, b, c = (tmp_path / name for name in ("plain", "a", "b", "c"))
    actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=plain)
    actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=a, shuffle=True, seed=3)
    actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=b, shuffle=True, seed=3)
    actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=c, shuffle=True, seed=4)
    name = "ucf101_train_split_1_rawframes.txt"
    assert (a / name).read_text() == (b / name).read_text()
    assert sorted((a / name).read_text().splitlines()) == sorted((plain / name).read_text().splitlines())
    lines = (plain / name).read_text().splitlines(keepends=True)
    random.Random(3).shuffle(lines)  # the rule: random.Random(seed), lists shuffled in write order
    assert (a / name).read_text() == "".join(lines)
    assert any((a / f.name).read_text() != f.read_text() for f in c.iterdir())


def test_sthv2_lists(tmp_path):
    frames = tmp_path / "rawframes"
    for video, count in {"1": 4, "22": 6, "333": 2}.items():
        (frames / video).mkdir(parents=True)
        for i in range(1, count + 1):
            (frames / video / f"img_{i:05d}.jpg").write_bytes(b"x")
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "labels.json").write_text(json.dumps(
        {"Pushing something from left to right": "7", "Holding something": "0"}))
    (annotations / "train.json").write_text(json.dumps([
        {"id": "22", "template": "Pushing [something] from left to right", "label": "pushing a cup"},
        {"id": "4444", "template": "Holding [something]"},  # not on disk
        {"id": "1", "template": "Holding [something]"}]))
    (annotations / "validation.json").write_text(json.dumps([{"id": "333", "template": "Holding [something]"}]))
    out = tmp_path / "lists"
    report = actionzoo.prepare_filelist("sthv2", frames, annotations=annotations, out_dir=out, level=1)
    assert (out / "sthv2_train_list_rawframes.txt").read_text() == "22 6 7\n1 4 0\n"
    assert (out / "sthv2_val_list_rawframes.txt").read_text() == "333 2 0\n"
    assert report.missing[out / "sthv2_train_list_rawframes.txt"] == 1


def test_kinetics400_lists(tmp_path):
    frames = tmp_path / "rawframes"
    on_disk = {"playing_guitar/abc_000010_000020": 3, "abseiling/xyz_000001_000011": 5,
               "abseiling/q-w_000100_000110": 2}
    for key, count in on_disk.items():
        (frames / key).mkdir(parents=True)
        for i in range(1, count + 1):
            (frames / key / f"img_{i:05d}.jpg").write_bytes(b"x")
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    (annotations / "kinetics_train.csv").write_text(
        header + '"playing guitar",abc,10,20,train,0\nabseiling,xyz,1.0,11.0,train,0\n')
    (annotations / "kinetics_val.csv").write_text(header + "abseiling,q-w,100,110,val,0\n")
    out = tmp_path / "lists"
    actionzoo.prepare_filelist("kinetics400", frames, annotations=annotations, out_dir=out)
    # classes: sorted train labels with spaces -> _ : abseiling 0, playing_guitar 1
    assert (out / "kinetics400_train_list_rawframes.txt").read_text() == (
        "playing_guitar/abc_000010_000020 3 1\nabseiling/xyz_000001_000011 5 0\n")
    assert (out / "kinetics400_val_list_rawframes.txt").read_text() == "abseiling/q-w_000100_000110 2 0\n"


def test_bad_split_lines_are_named(tmp_path):
    frames = make_frames(tmp_path / "rawframes")
    annotations = make_ucf_annotations(tmp_path / "annotations")
    (annotations / "testlist02.txt").write_text("Archery/v_Archery_g01_c01.avi\nNoSuchClass/v_x.avi\n")
    with pytest.raises(AnnotationError, match=r"testlist02.txt: line 2.*NoSuchClass"):
        actionzoo.prepare_filelist("ucf101", frames, annotations=annotations, out_dir=tmp_path / "out")
