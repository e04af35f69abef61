"""AVA annotation readers: parsed values, every problem reported with its line, safe pickles."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from actionzoo.ava.annotations import (
    AnnotationRow,
    DetectionRow,
    image_key,
    parse_image_key,
    read_annotations_csv,
    read_detections_csv,
    read_excluded_timestamps,
    read_frame_list,
    read_labelmap,
    read_person_boxes_csv,
    read_proposals_pickle,
)
from actionzoo.errors import AnnotationError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------ keys


def test_image_key_normalises_the_timestamp():
    assert image_key("-5KQ66BBWC4", "0902") == image_key("-5KQ66BBWC4", 902) == "-5KQ66BBWC4,0902"
    assert parse_image_key("_-Z6wFjXtGQ,902") == ("_-Z6wFjXtGQ", 902)
    with pytest.raises(ValueError):
        parse_image_key("no-comma")
    with pytest.raises(ValueError):
        parse_image_key("vid,09.5")


# ------------------------------------------------------------------------- ground-truth CSV


def test_read_annotations_csv_values_and_optional_person_id(tmp_path):
    path = write(
        tmp_path / "gt.csv",
        "-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\n"
        "\n"
        "_-Z6wFjXtGQ,903,0.5,0.2,0.7,0.9,12\n",
    )
    rows = read_annotations_csv(path)
    assert rows == [
        AnnotationRow("-5KQ66BBWC4", 902, 0.077, 0.151, 0.283, 0.811, 80, 1),
        AnnotationRow("_-Z6wFjXtGQ", 903, 0.5, 0.2, 0.7, 0.9, 12, None),
    ]
    assert rows[0].key == "-5KQ66BBWC4,0902"
    assert rows[1].key == "_-Z6wFjXtGQ,0903"


def test_read_annotations_csv_reports_every_problem_with_its_line(tmp_path):
    path = write(
        tmp_path / "gt.csv",
        "vid,0902,0.1,0.1,0.3,0.9,12,1\n"  # 1 fine
        "vid,0902,0.1,0.1,0.3,0.9\n"  # 2 too few fields
        "vid,09x2,0.1,0.1,0.3,0.9,12,1\n"  # 3 timestamp
        "vid,0902,abc,0.1,0.3,nan,12,1\n"  # 4 two bad coordinates
        "vid,0902,0.4,0.1,0.3,0.9,12,1\n"  # 5 inverted box
        "vid,0902,0.1,0.1,0.3,0.9,walk,1.5\n"  # 6 action and person id
        "vid,0902\n"  # 7 a 2020-style empty keyframe row
        "vid,0902,0.3,0.1,0.3,0.9,12,1\n",  # 8 zero width: allowed
    )
    with pytest.raises(AnnotationError) as info:
        read_annotations_csv(path)
    problems = info.value.problems
    lines = [p.split(":")[0] for p in problems]
    assert lines == ["line 2", "line 3", "line 4", "line 4", "line 5", "line 6", "line 6", "line 7"]
    assert "7 or 8" in problems[0]
    assert "timestamp '09x2'" in problems[1]
    assert "x1 'abc'" in problems[2] and "y2 'nan'" in problems[3]
    assert "inverted" in problems[4]
    assert "action_id 'walk'" in problems[5] and "person_id '1.5'" in problems[6]
    assert "2020" in problems[7]
    assert str(path) in str(info.value) and "(and 7 more problems)" in str(info.value)


def test_missing_file_is_an_annotation_error(tmp_path):
    with pytest.raises(AnnotationError, match="file not found"):
        read_annotations_csv(tmp_path / "absent.csv")


# ---------------------------------------------------------------------------- detection CSV


def test_read_detections_csv_keeps_invalid_boxes_and_defaults_score(tmp_path):
    path = write(
        tmp_path / "det.csv",
        "vid,0902,0.3,0.1,0.1,0.9,12,0.25\n"  # inverted: kept, the metric drops it
        "vid,0903,0.1,0.1,0.3,0.9,80\n",
    )
    assert read_detections_csv(path) == [
        DetectionRow("vid", 902, 0.3, 0.1, 0.1, 0.9, 12, 0.25),
        DetectionRow("vid", 903, 0.1, 0.1, 0.3, 0.9, 80, 1.0),
    ]


def test_read_detections_csv_reports_bad_scores(tmp_path):
    path = write(
        tmp_path / "det.csv", "vid,0902,0.1,0.1,0.3,0.9,12,high\nvid,0902,0.1,0.1,0.3,0.9,12,inf\n"
    )
    with pytest.raises(AnnotationError) as info:
        read_detections_csv(path)
    assert [p.split(":")[0] for p in info.value.problems] == ["line 1", "line 2"]


def test_read_person_boxes_csv(tmp_path):
    path = write(
        tmp_path / "boxes.csv",
        "1j20qq1JyX4,0902,0.036,0.098,0.550,0.979,,0.995518\n"
        "1j20qq1JyX4,0902,0.036,0.098,0.550,0.979,12,0.8\n"
        "1j20qq1JyX4,0903,0.1,0.1,0.837,0.9,-1,0.742486\n",
    )
    rows = read_person_boxes_csv(path)  # score >= 0.8 kept, 0.8 itself included
    assert [(r.timestamp, r.action_id, r.score) for r in rows] == [
        (902, None, 0.995518),
        (902, 12, 0.8),
    ]
    assert rows[0].box_text == "0.036,0.098,0.550,0.979"
    everything = read_person_boxes_csv(path, min_score=None)
    assert [r.action_id for r in everything] == [None, 12, None]


def test_read_person_boxes_csv_errors(tmp_path):
    path = write(
        tmp_path / "boxes.csv", "v,0902,0.1,0.1,0.2,0.2,,\nv,0902,0.1,0.1,0.2,0.2,x,0.9\nv,0902\n"
    )
    with pytest.raises(AnnotationError) as info:
        read_person_boxes_csv(path)
    assert [p.split(":")[0] for p in info.value.problems] == ["line 1", "line 2", "line 3"]


# -------------------------------------------------------------------------------- label map

LABELMAP_2018 = """item {
  name: "bend/bow (at the waist)"
  id: 1
}
item {
  name: "stand"
  id: 12
}
"""

LABELMAP_2019 = """label {
  name: "stand"
  label_id: 12
  label_type: PERSON_MOVEMENT
}
label {
  name: "watch (a person)"
  label_id: 80
  label_type: PERSON_INTERACTION
}
"""


def test_read_labelmap_both_forms(tmp_path):
    assert read_labelmap(write(tmp_path / "a.pbtxt", LABELMAP_2018)) == {
        1: "bend/bow (at the waist)",
        12: "stand",
    }
    assert read_labelmap(write(tmp_path / "b.pbtxt", LABELMAP_2019)) == {
        12: "stand",
        80: "watch (a person)",
    }


def test_read_labelmap_problems(tmp_path):
    text = (
        'item {\n  name: "a"\n  id: 3\n}\n'  # fine
        "item {\n  name: unquoted\n  id: 4\n}\n"  # line 6 bad name, line 7 id without name
        'item {\n  name: "c"\n  id: x\n}\n'  # line 11 bad id
        'item {\n  name: "d"\n  id: 3\n}\n'  # line 15 repeated id
    )
    with pytest.raises(AnnotationError) as info:
        read_labelmap(write(tmp_path / "bad.pbtxt", text))
    assert [p.split(":")[0] for p in info.value.problems] == [
        "line 6",
        "line 7",
        "line 11",
        "line 15",
    ]
    with pytest.raises(AnnotationError, match="no classes"):
        read_labelmap(write(tmp_path / "empty.pbtxt", "# nothing\n"))


# ------------------------------------------------------------------------ excluded timestamps


def test_read_excluded_timestamps(tmp_path):
    keys = read_excluded_timestamps(write(tmp_path / "ex.csv", "vid,0902\nvid,903\n\n-x_,1798\n"))
    assert keys == {"vid,0902", "vid,0903", "-x_,1798"}
    with pytest.raises(AnnotationError) as info:
        read_excluded_timestamps(write(tmp_path / "bad.csv", "vid,0902,extra\nvid,late\n"))
    assert [p.split(":")[0] for p in info.value.problems] == ["line 1", "line 2"]


# ------------------------------------------------------------------------------ frame lists

HEADER = "original_vido_id video_id frame_id path labels\n"


def test_read_frame_list(tmp_path):
    text = HEADER + (
        '-5KQ66BBWC4 0 0 -5KQ66BBWC4/-5KQ66BBWC4_000001.jpg ""\n'
        '-5KQ66BBWC4 0 1 -5KQ66BBWC4/-5KQ66BBWC4_000002.jpg ""\n'
        '_-Z6wFjXtGQ 1 0 _-Z6wFjXtGQ/_-Z6wFjXtGQ_000001.jpg ""\n'
    )
    frames = read_frame_list(write(tmp_path / "val.csv", text))
    assert frames.videos == ["-5KQ66BBWC4", "_-Z6wFjXtGQ"]
    assert frames.frames["-5KQ66BBWC4"] == [
        "-5KQ66BBWC4/-5KQ66BBWC4_000001.jpg",
        "-5KQ66BBWC4/-5KQ66BBWC4_000002.jpg",
    ]
    assert frames.video_index("_-Z6wFjXtGQ") == 1


def test_read_frame_list_problems(tmp_path):
    with pytest.raises(AnnotationError, match="header"):
        read_frame_list(write(tmp_path / "noheader.csv", 'v 0 0 v/v_000001.jpg ""\n'))
    text = HEADER + (
        'v 0 0 v/v_000001.jpg ""\n'
        "v 0 1 v/v_000002.jpg\n"  # line 3: 4 tokens
        'v 0 2 v/v_000003.jpg ""\n'  # line 4: frame 2 where row 1 is expected
        'v 7 1 v/v_000002.jpg ""\n'  # line 5: another video index for v
        'w 1 a w/w_000001.jpg ""\n'  # line 6: frame id not an integer
    )
    with pytest.raises(AnnotationError) as info:
        read_frame_list(write(tmp_path / "bad.csv", text))
    assert [p.split(":")[0] for p in info.value.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]


# -------------------------------------------------------------------------- proposal pickles


def dump(path: Path, obj: object, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_read_proposals_pickle_filters_by_score(tmp_path, protocol):
    data = OrderedDict(
        [
            (
                "vid,0902",
                np.array(
                    [
                        [0.1, 0.1, 0.5, 0.9, 0.95],
                        [0.2, 0.2, 0.4, 0.4, 0.5],
                        [0.0, 0.0, 1.0, 1.0, 0.8],
                    ],
                    np.float32,
                ),
            ),
            ("vid,903", np.array([[0.1, 0.1, 0.5, 0.9, 0.3]], np.float32)),
        ]
    )
    out = read_proposals_pickle(dump(tmp_path / "p.pkl", data, protocol))
    assert list(out) == ["vid,0902", "vid,0903"]
    assert out["vid,0902"].dtype == np.float64
    np.testing.assert_array_equal(out["vid,0902"], data["vid,0902"][[0, 2]].astype(np.float64))
    assert out["vid,0903"].shape == (0, 5)
    assert read_proposals_pickle(tmp_path / "p.pkl", min_score=None)["vid,0902"].shape == (3, 5)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_read_proposals_pickle_refuses_code(tmp_path):
    marker = tmp_path / "ran"
    path = dump(tmp_path / "evil.pkl", {"vid,0902": _RunsCode(marker)})
    with pytest.raises(AnnotationError, match="refused to unpickle (posix|nt|os).system"):
        read_proposals_pickle(path)
    assert not marker.exists()
    # A class of this very test module is refused too: only containers and arrays are admitted.
    with pytest.raises(AnnotationError, match="refused"):
        read_proposals_pickle(
            dump(tmp_path / "cls.pkl", {"vid,0902": AnnotationRow("v", 902, 0, 0, 1, 1, 1)})
        )


def test_read_proposals_pickle_problems(tmp_path):
    data = {
        "vid,0902": np.zeros((2, 4)),  # 4 columns
        "not a key": np.zeros((0, 5)),
        "vid,0903": [[0.1, 0.1, 0.2, 0.2, 0.9]],  # a list, not an array
        "vid,903": np.zeros((1, 5)),  # fine
        "vid,0904": np.array([[0.1, 0.1, np.nan, 0.2, 0.9]]),
    }
    with pytest.raises(AnnotationError) as info:
        read_proposals_pickle(dump(tmp_path / "bad.pkl", data))
    assert len(info.value.problems) == 4
    with pytest.raises(AnnotationError, match="expected a dict"):
        read_proposals_pickle(dump(tmp_path / "list.pkl", [1, 2]))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(AnnotationError, match="not a readable pickle"):
        read_proposals_pickle(tmp_path / "junk.pkl")
