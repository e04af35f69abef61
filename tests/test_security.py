"""Malicious pickles through every entry point that reads a user's file: nothing runs.

Each payload, if it ever ran, would create a marker file. For every malicious file and every entry
point (CLI and API) the test asserts that the marker never appears, the exit status is non-zero
and the message is one line naming the file and (where the file gets that far) the refused global.
One control test shows the markers work: with ``trusted=True`` the same file does run its payload.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from actionzoo.cli import main
from actionzoo.errors import ActionZooError

MARKER_NAME = "PAYLOAD_RAN"


class Payload:
    """Pickles to a call of ``how`` that creates ``marker`` when unpickled."""

    def __init__(self, how: str, marker: Path) -> None:
        self.how = how
        self.marker = str(marker)

    def __reduce__(self):
        if self.how == "system":
            return (os.system, (f"touch '{self.marker}'",))
        code = f"open({self.marker!r}, 'w').close()"
        return (builtins.eval if self.how == "eval" else builtins.exec, (code,))


REFUSED = {"system": "posix.system", "eval": "builtins.eval", "exec": "builtins.exec"}


@dataclass(frozen=True)
class Malicious:
    name: str
    write: Callable[[Path, Path], Path]  # (folder, marker) -> the file
    refused: str | None  # the global the message must name (None: refused before unpickling)


def _plain(protocol: int, how: str, container: str) -> Malicious:
    def write(folder: Path, marker: Path) -> Path:
        bad = Payload(how, marker)
        data = {
            "mmaction2": {"meta": {"epoch": 1}, "state_dict": {"w": bad}},
            "pyslowfast": {"epoch": 1, "model_state": {"w": bad}},
            "caffe2": {"blobs": {"conv1_w": bad}},
            "bare": {"w": bad},
        }[container]
        path = folder / f"plain_p{protocol}_{how}_{container}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        return path

    return Malicious(f"plain pickle protocol {protocol}, {how}, {container}", write, REFUSED[how])


def _magic_slot(folder: Path, marker: Path) -> Path:
    # A legacy torch file whose first pickle, where the magic number belongs, is the payload.
    genuine = folder / "genuine_legacy.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, genuine, _use_new_zipfile_serialization=False)
    raw = genuine.read_bytes()
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    assert raw.startswith(magic)
    path = folder / "magic_slot.pth"
    path.write_bytes(pickle.dumps(Payload("system", marker), protocol=2) + raw[len(magic):])
    return path


def _torch_zip(folder: Path, marker: Path) -> Path:
    path = folder / "zip_with_payload.pth"
    torch.save({"meta": Payload("eval", marker), "state_dict": {"w": torch.zeros(2)}}, path)
    return path


def _torch_legacy(folder: Path, marker: Path) -> Path:
    path = folder / "legacy_with_payload.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "cfg": Payload("exec", marker)}, path,
               _use_new_zipfile_serialization=False)
    return path


def _handmade_zip(folder: Path, marker: Path) -> Path:
    # torch's zip layout written by hand: data.pkl is a plain malicious pickle.
    path = folder / "handmade.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Payload("system", marker)}, protocol=2))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    return path


def _foreign_zip(folder: Path, marker: Path) -> Path:
    path = folder / "not_torch.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "a zip archive that is not a torch file")
        archive.writestr("payload.pkl", pickle.dumps(Payload("system", marker), protocol=2))
    return path


def _caffe2_issue_example(folder: Path, marker: Path) -> Path:
    path = folder / "SLOWFAST_8x8_R50.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": Payload("system", marker)}}, protocol=2))
    return path


CHECKPOINTS = [
    *(_plain(p, how, c) for p, how, c in [
        (2, "system", "caffe2"), (3, "eval", "mmaction2"), (4, "exec", "pyslowfast"),
        (5, "system", "bare"), (2, "eval", "pyslowfast"), (3, "exec", "caffe2"),
        (4, "system", "mmaction2"), (5, "eval", "caffe2"), (2, "exec", "bare"),
    ]),
    Malicious("payload in the legacy magic-number slot", _magic_slot, "posix.system"),
    Malicious("zip torch file with a malicious object", _torch_zip, "builtins.eval"),
    Malicious("legacy torch file with a malicious body", _torch_legacy, "builtins.exec"),
    Malicious("hand-made torch-layout zip", _handmade_zip, "posix.system"),
    Malicious("zip archive that is not a torch file", _foreign_zip, None),
    Malicious("the issue's Caffe2 blobs pickle", _caffe2_issue_example, "posix.system"),
]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and the error message: everything from ``actionzoo: error:`` on (notes such as
    "the weights are random" may come before it)."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    start = err.find("actionzoo: error: ")
    return code, err[start:] if start >= 0 else err


def _tiny_video_list(folder: Path) -> tuple[Path, Path]:
    (folder / "list.txt").write_text("clip.mp4 0\n")
    return folder / "list.txt", folder


CLI_ENTRY_POINTS: dict[str, Callable[[Path, Path], list[str]]] = {
    "inspect": lambda ckpt, tmp: ["inspect", str(ckpt)],
    "export": lambda ckpt, tmp: ["export", "x3d_s_k400", "--checkpoint", str(ckpt),
                                 "-o", str(tmp / "m.onnx")],
    "eval": lambda ckpt, tmp: ["eval", "x3d_s_k400", "--checkpoint", str(ckpt),
                               "--ann", str(_tiny_video_list(tmp)[0]), "--data-root", str(tmp),
                               "--results", str(tmp / "r.db"), "--no-progress"],
    "train --init": lambda ckpt, tmp: ["train", "x3d_s_k400", "--init", str(ckpt),
                                       "--ann", str(_tiny_video_list(tmp)[0]), "--data-root",
                                       str(tmp), "--work-dir", str(tmp / "work"), "--workers", "0",
                                       "--batch-size", "1", "--no-progress"],
}


def _api_build_model(ckpt: Path) -> None:
    import actionzoo

    actionzoo.build_model("slowfast_r50_8x8_k400_pyslowfast", ckpt)


def _api_read_checkpoint(ckpt: Path) -> None:
    import actionzoo

    actionzoo.read_checkpoint(ckpt)


def _api_inspect(ckpt: Path) -> None:
    import actionzoo

    actionzoo.inspect_checkpoint(ckpt)


API_ENTRY_POINTS = {"build_model": _api_build_model, "read_checkpoint": _api_read_checkpoint,
                    "inspect_checkpoint": _api_inspect}


def _check_message(message: str, path: Path, refused: str | None) -> None:
    assert "\n" not in message, message
    assert str(path) in message, message
    if refused is not None:
        assert refused in message, message


@pytest.mark.parametrize("entry", list(CLI_ENTRY_POINTS))
@pytest.mark.parametrize("bad", CHECKPOINTS, ids=lambda m: m.name)
def test_malicious_checkpoint_through_the_cli(bad: Malicious, entry: str, tmp: Path, capsys) -> None:
    marker = tmp / MARKER_NAME
    path = bad.write(tmp, marker)
    code, err = _cli(CLI_ENTRY_POINTS[entry](path, tmp), capsys)
    assert not marker.exists(), "the payload ran"
    assert code != 0
    assert err.startswith("actionzoo: error: ")
    _check_message(err, path, bad.refused)


@pytest.mark.parametrize("entry", list(API_ENTRY_POINTS))
@pytest.mark.parametrize("bad", CHECKPOINTS, ids=lambda m: m.name)
def test_malicious_checkpoint_through_the_api(bad: Malicious, entry: str, tmp: Path) -> None:
    marker = tmp / MARKER_NAME
    path = bad.write(tmp, marker)
    with pytest.raises(ActionZooError) as info:
        API_ENTRY_POINTS[entry](path)
    assert not marker.exists(), "the payload ran"
    _check_message(str(info.value), path, bad.refused)


def test_the_markers_work_when_the_user_trusts_the_file(tmp: Path) -> None:
    import actionzoo

    marker = tmp / MARKER_NAME
    path = _caffe2_issue_example(tmp, marker)
    with pytest.raises(Exception):  # the payload's return value is no array: the read then fails
        actionzoo.build_model("slowfast_r50_8x8_k400_pyslowfast", path, trusted=True)
    assert marker.exists()


def test_issue_example_in_a_fresh_process(tmp: Path) -> None:
    marker = tmp / MARKER_NAME
    path = _caffe2_issue_example(tmp, marker)
    run = subprocess.run([sys.executable, "-m", "actionzoo", "inspect", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert not marker.exists()
    assert run.returncode == 2
    _check_message(run.stderr.strip(), path, "posix.system")


# ------------------------------------------------------------------------- proposal pickles


def _proposals(tmp: Path, marker: Path) -> Path:
    path = tmp / "proposals.pkl"
    path.write_bytes(pickle.dumps({"vidA,0902": Payload("system", marker)}, protocol=2))
    return path


def test_malicious_proposals_through_eval_detect_and_the_api(tmp: Path, capsys) -> None:
    from actionzoo.ava.annotations import read_proposals_pickle

    marker = tmp / MARKER_NAME
    path = _proposals(tmp, marker)
    (tmp / "frames.csv").write_text("original_vido_id video_id frame_id path labels\n")
    (tmp / "gt.csv").write_text("")
    (tmp / "map.pbtxt").write_text('item {\n  name: "stand"\n  id: 12\n}\n')
    code, err = _cli(["eval", "slowfast_r50_ava", "--frames-dir", str(tmp), "--frame-list",
                      str(tmp / "frames.csv"), "--boxes", str(path), "--gt", str(tmp / "gt.csv"),
                      "--labelmap", str(tmp / "map.pbtxt"), "--results", str(tmp / "r.db"),
                      "--no-progress"], capsys)
    assert code != 0 and not marker.exists()
    _check_message(err, path, "posix.system")
    (tmp / "video.mp4").write_bytes(b"")
    code, err = _cli(["detect", str(tmp / "video.mp4"), "--proposals", str(path), "--out",
                      str(tmp / "out")], capsys)
    assert code != 0 and not marker.exists()
    _check_message(err, path, "posix.system")
    with pytest.raises(ActionZooError) as info:
        read_proposals_pickle(path)
    assert not marker.exists()
    _check_message(str(info.value), path, "posix.system")


# ------------------------------------------------------------------- the allow-list itself


def test_allow_list_holds_only_data_constructors() -> None:
    from actionzoo.fileio.unpickle import ALLOWED

    modules = {module for module, _ in ALLOWED}
    assert modules <= {"numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                       "numpy.core.numeric", "numpy._core.numeric", "numpy.dtypes", "_codecs",
                       "collections", "builtins"}
    builtin_names = {name for module, name in ALLOWED if module == "builtins"}
    assert builtin_names <= {"list", "dict", "tuple", "set", "frozenset", "int", "float", "complex",
                             "bool", "str", "bytes", "bytearray"}


def test_wrapped_globals_refuse_what_the_originals_would_do(tmp: Path) -> None:
    from actionzoo.fileio.unpickle import RefusedGlobal, RestrictedUnpickler

    def load(data: bytes) -> object:
        return RestrictedUnpickler(io.BytesIO(data)).load()

    # _codecs.encode with a codec other than latin1 (codec lookup imports modules)
    crafted = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00abX\x05\x00\x00\x00rot13\x86R."
    with pytest.raises(RefusedGlobal):
        load(crafted)
    # defaultdict keeps no factory: the result is a plain dict
    import collections

    assert type(load(pickle.dumps(collections.defaultdict(list, a=1), protocol=2))) is dict
    assert load(pickle.dumps(b"\x00\xff", protocol=2)) == b"\x00\xff"


def test_sniffing_reads_bytes_only(tmp: Path) -> None:
    from actionzoo.fileio.unpickle import is_legacy_torch_file

    legacy = tmp / "legacy.pth"
    torch.save({"w": torch.zeros(1)}, legacy, _use_new_zipfile_serialization=False)
    assert is_legacy_torch_file(legacy)
    for protocol in (2, 3, 4, 5):
        other = tmp / f"p{protocol}.pth"
        torch.save({"w": torch.zeros(1)}, other, _use_new_zipfile_serialization=False,
                   pickle_protocol=protocol)
        assert is_legacy_torch_file(other), protocol
    plain = tmp / "plain.pkl"
    plain.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C + 1, protocol=2))
    assert not is_legacy_torch_file(plain)


# ------------------------------------------------------------------- results stores (--resume)


def test_a_results_file_with_a_trigger_or_view_is_refused(tmp: Path) -> None:
    import sqlite3

    from actionzoo.errors import UsageError
    from actionzoo.evaluation.store import ResultsStore

    with ResultsStore(tmp / "r.db", {"model": "m"}, resume=False):
        pass
    db = sqlite3.connect(tmp / "r.db")
    db.execute("CREATE TRIGGER t AFTER INSERT ON videos BEGIN DELETE FROM run; END")
    db.commit()
    db.close()
    with pytest.raises(UsageError, match="not an actionzoo results database .*trigger t"):
        ResultsStore(tmp / "r.db", {"model": "m"}, resume=True)
