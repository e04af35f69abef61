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


# =========================================================================== round 2 (issue 17)
# Hostile files that run no code but crash, exhaust, tamper or write elsewhere. Each table
# generates its files here, then runs every case through the entry points that read it in ONE
# subprocess (tests/security_runner.py) under a 4 GiB address-space limit and a timeout, and
# asserts: no signal, no traceback, a non-zero one-line error naming the file, no write outside
# the output folder.

import json
import struct

import numpy as np

RUNNER = Path(__file__).with_name("security_runner.py")


def _run_cases(cases: list[dict], tmp: Path, timeout: float = 300) -> dict[str, dict]:
    from helpers import CLI_ENV

    spec = tmp / "cases.json"
    spec.write_text(json.dumps(cases))
    run = subprocess.run([sys.executable, str(RUNNER), str(spec)], capture_output=True, text=True,
                         timeout=timeout, env=CLI_ENV)
    results = {}
    last = None
    for line in run.stdout.splitlines():
        if line.startswith("START "):
            last = line[6:]
        elif line.startswith("{"):
            row = json.loads(line)
            results[row["id"]] = row
    assert run.returncode == 0, f"the runner died (rc {run.returncode}) in case {last}: {run.stderr[-2000:]}"
    return results


def _assert_refused(row: dict, path: Path | str, seconds: float = 20) -> None:
    assert row["traceback"] is None, row["traceback"]
    assert row["rc"] not in (0, None), row
    message = row["err"].strip().splitlines()
    assert message, row
    line = message[-1]
    assert line.startswith("actionzoo: error: "), row
    assert str(path) in line, line
    assert "\x1b" not in row["err"] + row["out"], "a terminal escape from the file was printed"
    assert row["seconds"] < seconds, row


# ------------------------------------------------------------------- a tiny pickle assembler

def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _u(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def _b(raw: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(raw)) + raw


def _i(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _dtype(code: str, state: bytes | None = None) -> bytes:
    built = _g("numpy", "dtype") + _u(code) + b"\x89\x88\x87R"
    if state is None:
        state = b"(K\x03" + _u("<") + b"NNN" + _i(-1) + _i(-1) + b"K\x00t"
    return built + state + b"b"


def _array(shape: tuple[int, ...], dtype: bytes, raw: bytes) -> bytes:
    shape_bytes = b"(" + b"".join(_i(d) for d in shape) + b"t"
    return (_g("numpy.core.multiarray", "_reconstruct") + _g("numpy", "ndarray") + b"(K\x00\x85"
            + _b(b"b") + b"tR(K\x01" + shape_bytes + dtype + b"\x89" + _b(raw) + b"tb")


def _pickle(body: bytes, container: str = "caffe2") -> bytes:
    """``body`` (one object) as the weights of a container: {'blobs': {'conv1_w': body}} ..."""
    if container == "caffe2":
        return b"\x80\x02}" + _u("blobs") + b"}" + _u("conv1_w") + body + b"ss."
    if container == "proposals":
        return b"\x80\x02}" + _u("vid,0902") + body + b"s."
    return b"\x80\x02" + body + b"."


# Hostile objects (class 1: memory-unsafe numpy, class 2: nesting, class 6: allocation bombs).
_SUBARRAY_STATE = (b"(K\x03" + _u("<") + b"(" + _dtype("f8") + b"(" + _i(1 << 20) + b"tt"
                   + b"NN" + _i(8) + _i(8) + b"K\x00t")
_OBJECT_FIELD_STATE = (b"(K\x03" + _u("|") + b"N(" + _u("f") + b"t}" + _u("f") + b"(" + _dtype("f8")
                       + b"K\x00tsK\x08K\x01K\x00t")
HOSTILE_OBJECTS = {
    "dtype sub-array state": _array((1,), _dtype("f8", _SUBARRAY_STATE), b"\0" * 8),
    "dtype object field, flags 0": _array((1,), _dtype("V8", _OBJECT_FIELD_STATE), b"\0" * 8),
    "object dtype": _array((1,), _dtype("O8"), b"\0" * 8),
    "void dtype": _array((1,), _dtype("V8"), b"\0" * 8),
    "array larger than its buffer": _array((1 << 18,), _dtype("f4"), b"\0" * 8),
    "frombuffer larger than its buffer": (_g("numpy.core.numeric", "_frombuffer") + b"(" + _b(b"\0" * 8)
                                          + _dtype("f8") + b"(" + _i(1 << 17) + b"t" + _u("C") + b"tR"),
    "scalar of an object dtype": (_g("numpy.core.multiarray", "scalar") + _dtype("O8")
                                  + _b(b"A" * 8) + b"\x86R"),
    "scalar over too few bytes": (_g("numpy.core.multiarray", "scalar") + _dtype("f8")
                                  + _b(b"A" * 2) + b"\x86R"),
    "ndarray called with a huge shape": (_g("numpy", "ndarray") + b"(" + _i(1 << 30) + b"t"
                                         + _u("f8") + b"\x86R"),
    "array state set twice": _array((1,), _dtype("f8"), b"\0" * 8)[:-1] + b"b(K\x01(" + _i(1 << 20)
                             + b"t" + _dtype("f8") + b"\x89" + _b(b"\0" * 8) + b"tb",
    "bytearray of a file-chosen size": _g("builtins", "bytearray") + _i(1 << 30) + b"\x85R",
    "bytes of a file-chosen size": _g("builtins", "bytes") + _i(1 << 30) + b"\x85R",
    "str through a codec": _g("builtins", "str") + _b(b"abc") + _u("punycode") + b"\x86R",
    "codec other than latin1": _g("_codecs", "encode") + _u("a" * 1000) + _u("punycode") + b"\x86R",
    "memo index 2**32-1": b"Nr\xff\xff\xff\xff",
    "BINBYTES8 of 2**40 bytes": b"\x8e" + struct.pack("<Q", 1 << 40),
    "deep list nesting": b"]" * 200_000 + b"a" * 199_999,
    "deep tuple as a dict key": b"}K\x01" + b"\x85" * 300_000 + b"K\x02s",
    "deep nesting through the memo": b"]q\x00]q\x01h\x00" + b"]" * 150 + b"a" * 150 + b"a",
    "a list holding itself": b"]q\x00h\x00a",
}


def _torch_zip_with(folder: Path, name: str, data_pkl: bytes) -> Path:
    """A genuine torch zip checkpoint whose object stream is replaced by ``data_pkl``."""
    genuine = folder / "genuine.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}}, genuine)
    path = folder / name
    with zipfile.ZipFile(genuine) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            dst.writestr(item, data_pkl if item.endswith("data.pkl") else src.read(item))
    return path


def _stride0_head(folder: Path) -> Path:
    """A checkpoint whose 1-element storage claims a (1000000, 2048) head through stride 0."""
    genuine = folder / "g1.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}}, genuine)
    with zipfile.ZipFile(genuine) as src:
        pkl = next(src.read(n) for n in src.namelist() if n.endswith("data.pkl"))
    import re

    pkl, count = re.subn(rb"(?s)K\x01\x85(q.)K\x01\x85", lambda m: _i(1_000_000) + _i(2048) + b"\x86"
                         + m.group(1) + b"K\x00K\x00\x86", pkl)
    assert count == 1, pkl
    return _torch_zip_with(folder, "stride0.pth", pkl)


def _checkpoint_entry_points(path: Path, tmp: Path, case: str) -> list[dict]:
    out = tmp / "out"
    return [
        {"id": f"{case}|inspect", "cli": ["inspect", str(path)]},
        {"id": f"{case}|export", "cli": ["export", "x3d_s_k400", "--checkpoint", str(path),
                                         "-o", str(out / "m.onnx")]},
        {"id": f"{case}|build_model", "api": "build_model", "args": [str(path), "x3d_s_k400"]},
        {"id": f"{case}|read_checkpoint", "api": "read_checkpoint", "args": [str(path)]},
    ]


@pytest.mark.slow  # 8 to 22 s here (machine load): 180 cases, four entry points each
def test_hostile_objects_in_every_container_and_entry_point(tmp: Path) -> None:
    cases, paths = [], {}
    for index, (name, body) in enumerate(HOSTILE_OBJECTS.items()):
        caffe2 = tmp / f"c{index}.pkl"
        caffe2.write_bytes(_pickle(body, "caffe2"))
        torch_file = _torch_zip_with(tmp, f"t{index}.pth", _pickle(body, "bare"))
        proposals = tmp / f"p{index}.pkl"
        proposals.write_bytes(_pickle(body, "proposals"))
        for kind, path in (("caffe2", caffe2), ("torch", torch_file)):
            for case in _checkpoint_entry_points(path, tmp, f"{name}|{kind}"):
                cases.append(case)
                paths[case["id"]] = path
        case = {"id": f"{name}|proposals", "api": "read_proposals_pickle", "args": [str(proposals)]}
        cases.append(case)
        paths[case["id"]] = proposals
    stride0 = _stride0_head(tmp)
    for case in _checkpoint_entry_points(stride0, tmp, "stride-0 head"):
        cases.append(case)
        paths[case["id"]] = stride0
    results = _run_cases(cases, tmp)
    for case in cases:
        _assert_refused(results[case["id"]], paths[case["id"]])
    assert not (tmp / "out").exists() or not any((tmp / "out").iterdir()), "an export was written"


def test_official_numpy_objects_still_load(tmp: Path) -> None:
    """Every numpy object numpy itself pickles in official containers loads, with its values."""
    from actionzoo.fileio.unpickle import restricted_load

    values = {"f": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.arange(6, dtype=">f8"),
              "u": np.arange(5, dtype=np.uint8), "i": np.int64(-3), "s": np.float64(0.25),
              "t": np.bool_(True), "e": np.zeros((0, 5)), "c": np.asfortranarray(np.eye(3))}
    for protocol in (2, 3, 4, 5):
        path = tmp / f"ok{protocol}.pkl"
        path.write_bytes(pickle.dumps(values, protocol=protocol))
        loaded = restricted_load(path)
        for key, value in values.items():
            assert type(loaded[key]) is type(value), (protocol, key)
            np.testing.assert_array_equal(loaded[key], value)


# ------------------------------------------------------------------- results stores (class 3)

_STORE_TAMPERING = {
    "trigger named sqliteXfix": "CREATE TRIGGER sqliteXfix AFTER INSERT ON {t} BEGIN UPDATE {t} SET "
                                "status='ok'; END",
    "trigger that never returns": "CREATE TRIGGER Sqlite1x BEFORE INSERT ON {t} BEGIN SELECT count(*) "
                                  "FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM "
                                  "c) SELECT x FROM c); END",
    "view": "CREATE VIEW sqlitEv AS SELECT * FROM {t}",
    "generated column": "ALTER TABLE {t} ADD COLUMN g INTEGER GENERATED ALWAYS AS (1)",
    "index": "CREATE INDEX i ON {t}(position)",
    "changed CHECK": None,
}


def _tampered_store(path: Path, table: str, sql: str | None) -> None:
    import sqlite3

    from actionzoo.evaluation.store import KeyframeStore, ResultsStore

    kind = ResultsStore if table == "videos" else KeyframeStore
    with kind(path, {"model": "m"}, resume=False):
        pass
    db = sqlite3.connect(path)
    if sql is None:  # the same table with a looser CHECK, by rewriting the schema row
        db.execute("PRAGMA writable_schema=ON")
        db.execute("UPDATE sqlite_schema SET sql=replace(sql, \"'ok', 'failed'\", \"'ok', 'failed', 'x'\") "
                   "WHERE name=?", (table,))
    else:
        db.execute(sql.format(t=table))
    db.commit()
    db.close()


def test_tampered_results_stores_are_refused_before_any_statement(tmp: Path) -> None:
    cases, paths, before = [], {}, {}
    for table in ("videos", "keyframes"):
        for index, (name, sql) in enumerate(_STORE_TAMPERING.items()):
            path = tmp / f"{table}{index}.db"
            _tampered_store(path, table, sql)
            before[path] = path.read_bytes()
            case = {"id": f"{name}|{table}", "api": "resume_store", "args": [str(path), table]}
            cases.append(case)
            paths[case["id"]] = path
    results = _run_cases(cases, tmp, timeout=120)
    for case in cases:
        _assert_refused(results[case["id"]], paths[case["id"]])
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} changed: a statement ran"


# ---------------------------------------------- writes outside the output folder (classes 4, 5)


def _proposal_pickle(path: Path, video_id: str) -> Path:
    boxes = np.array([[0.1, 0.1, 0.5, 0.9, 0.95]])
    path.write_bytes(pickle.dumps({f"{video_id},0902": boxes}, protocol=2))
    return path


def _staged_folder(folder: Path, files: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,video_id,label,num_views,status,reason"]
    rows += [f"{name},v{i},0,1,ok," for i, name in enumerate(files)]
    (folder / "index.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.slow
def test_no_write_outside_the_output_folder(tmp: Path) -> None:
    outside = tmp / "outside"
    outside.mkdir()
    victim = outside / "victim.npy"
    np.save(victim, np.ones((1, 400), np.float32))
    original = victim.read_bytes()
    video = tmp / "video.mp4"
    video.write_bytes(b"")
    cases, paths = [], {}
    for index, vid in enumerate([str(outside / "victim"), "../outside/victim", "..", "a/b",
                                 "x\x1b[2Kfits", "v" * 300]):
        proposals = _proposal_pickle(tmp / f"prop{index}.pkl", vid)
        out = tmp / f"detect{index}"
        case = {"id": f"detect {index}", "api": "detect_ids", "args": [str(video), str(proposals), str(out)]}
        cases.append(case)
        paths[case["id"]] = proposals
    inputs = tmp / "inputs"
    (inputs / "sub").mkdir(parents=True)
    (inputs / "link").symlink_to(outside, target_is_directory=True)
    (inputs / "file_link.npy").symlink_to(victim)
    for index, name in enumerate([str(victim), "../outside/victim.npy", "link/victim.npy",
                                  "sub/../../outside/victim.npy", "file_link.npy"]):
        folder = _staged_folder(tmp / f"staged{index}", [name])
        for entry in ("link", "file_link.npy"):
            target = inputs / entry
            (folder / entry).symlink_to(target.resolve() if entry == "link" else victim)
        for api, args in (("infer_paths", [str(folder), str(tmp / f"inferred{index}")]),
                          ("postprocess", [str(folder)])):
            case = {"id": f"{api} {index}", "api": api, "args": args}
            cases.append(case)
            paths[case["id"]] = folder / "index.csv"
    planted = tmp / "atomic"
    planted.mkdir()
    (planted / "r.csv.partial").symlink_to(outside / "victim2")
    cases.append({"id": "atomic", "api": "write_text_atomic", "args": [str(planted / "r.csv")]})
    results = _run_cases(cases, tmp, timeout=120)
    for case in cases[:-1]:
        _assert_refused(results[case["id"]], paths[case["id"]])
    assert results["atomic"]["traceback"] is None and (planted / "r.csv").read_text() == "data"
    assert victim.read_bytes() == original
    assert sorted(p.name for p in outside.iterdir()) == ["victim.npy"]


# --------------------------------------------- quadratic time, tracebacks, escapes (7, 10, 11)


@pytest.mark.slow
def test_slow_or_crashing_fields_are_quick_one_line_errors(tmp: Path) -> None:
    cases, paths = [], {}

    def add(case_id: str, path: Path, api: str, *extra: str) -> None:
        cases.append({"id": case_id, "api": api, "args": [str(path), *extra]})
        paths[case_id] = path

    long_blob = tmp / "long_blob.pkl"
    long_blob.write_bytes(pickle.dumps({"blobs": {"res_" * 8000 + "w": np.ones(1, np.float32)}},
                                       protocol=2))
    add("32 KB Caffe2 blob name", long_blob, "read_checkpoint")
    int_key = tmp / "int_key.pkl"
    int_key.write_bytes(pickle.dumps({"blobs": {7: np.ones(1, np.float32)}}, protocol=2))
    add("int blob key", int_key, "read_checkpoint")
    deep_key = tmp / "deep_key.pkl"
    key: object = 1
    for _ in range(90):
        key = (key,)
    deep_key.write_bytes(pickle.dumps({key: np.ones((1, 5))}, protocol=2))
    add("deep tuple key", deep_key, "read_proposals_pickle")
    kinetics = tmp / "k.csv"
    kinetics.write_text("label,youtube_id,time_start,time_end,split\nabseiling,a,"
                        + "0" * 20000 + "x,10,val\n")
    add("20 KB Kinetics field", kinetics, "read_kinetics_csv", str(tmp))
    ava = tmp / "ava.csv"
    ava.write_text("vid," + "9" * 5000 + ",0.1,0.1,0.2,0.2,1\n")
    add("5000-digit AVA timestamp", ava, "read_annotations_csv")
    escape_key = tmp / "escape.pth"
    torch.save({"state_dict": {"x\x1b[2K\rx3d_s_k400 fits (400 classes)": torch.ones(1)}}, escape_key)
    cases.append({"id": "escape in inspect", "cli": ["inspect", str(escape_key)]})
    paths["escape in inspect"] = escape_key
    escape_global = tmp / "escape_global.pkl"
    escape_global.write_bytes(b"\x80\x02" + _g("os\x1b[2K", "system") + b".")
    cases.append({"id": "escape in a refused global", "cli": ["inspect", str(escape_global)]})
    paths["escape in a refused global"] = escape_global
    npy = _staged_folder(tmp / "scores", ["a.npy", "b.npy"])
    with (npy / "a.npy").open("wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (100_000_000_000,)})
    add("npy header declaring 400 GB", npy, "postprocess")
    legacy = tmp / "legacy.pth"
    torch.save({"state_dict": {"w": torch.ones(4)}}, legacy, _use_new_zipfile_serialization=False)
    numel = b"cpuq\x08K\x04Nt"
    assert numel in legacy.read_bytes()
    legacy.write_bytes(legacy.read_bytes().replace(numel, b"cpuq\x08J" + struct.pack("<i", 400_000_000)
                                                    + b"Nt"))
    add("legacy storage declaring 1.6 GB", legacy, "read_checkpoint")
    results = _run_cases(cases, tmp, timeout=180)
    for case in cases:
        row = results[case["id"]]
        assert row["traceback"] is None, row["traceback"]
        assert "\x1b" not in row["err"] + row["out"]
        assert row["seconds"] < 5, row
    for case_id in ("32 KB Caffe2 blob name", "int blob key", "deep tuple key", "20 KB Kinetics field",
                    "5000-digit AVA timestamp", "escape in a refused global",
                    "npy header declaring 400 GB", "legacy storage declaring 1.6 GB"):
        _assert_refused(results[case_id], paths[case_id], seconds=5)


# ------------------------------------------------------------------------------------ fuzzing


def _fuzz_sources(tmp: Path) -> dict[str, str]:
    from collections import OrderedDict

    from actionzoo.evaluation.store import ResultsStore

    state = OrderedDict(conv=torch.randn(2, 3, 1, 1, 1), bn=torch.ones(2), n=torch.tensor(3))
    meta = {"epoch": 2, "iter": np.int64(12), "hook_msgs": {"best_score": np.float64(0.5)},
            "config": "model = dict(type='Recognizer3D')"}
    torch.save({"meta": meta, "state_dict": state}, tmp / "src_zip.pth")
    torch.save({"epoch": 3, "model_state": state, "cfg": "MODEL:\n  ARCH: x3d\n"}, tmp / "src_legacy.pth",
               _use_new_zipfile_serialization=False)
    blobs = {"conv1_w": np.ones((2, 3, 1, 7, 7), np.float32), "pred_b": np.zeros(4, np.float32),
             "model_iter": np.array([5])}
    (tmp / "src_caffe2.pkl").write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    proposals = {"vidA,0902": np.array([[0.1, 0.1, 0.5, 0.9, 0.95]]),
                 "vidA,0903": np.zeros((0, 5)), "-b_x,1798": np.array([[0.2, 0.2, 0.4, 0.4, 0.9]])}
    (tmp / "src_proposals.pkl").write_bytes(pickle.dumps(proposals, protocol=2))
    (tmp / "src_proposals5.pkl").write_bytes(pickle.dumps(proposals, protocol=5))  # frames, memoize
    (tmp / "src_ava.csv").write_text("vidA,0902,0.100,0.200,0.300,0.400,12,0\n"
                                     "vidA,0903,0.1,0.2,0.3,0.4,80,1\n")
    (tmp / "src_k.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                   "abseiling,abc,10,20,val\n\"air drumming\",xyz,1.5,11.5,val\n")
    with ResultsStore(tmp / "src_store.db", {"model": "m"}, resume=False) as store:
        store._db.execute("INSERT INTO videos VALUES ('a', 0, 'a.mp4', 1, 'ok', NULL, 2, ?, 0.1, "
                          "0.2, 1.0)", (np.arange(4, dtype=np.float64).tobytes(),))
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"torch_zip": str(tmp / "src_zip.pth"), "torch_legacy": str(tmp / "src_legacy.pth"),
            "caffe2_pkl": str(tmp / "src_caffe2.pkl"), "proposals_pkl": str(tmp / "src_proposals.pkl"),
            "proposals_p5_pkl": str(tmp / "src_proposals5.pkl"),
            "ava_csv": str(tmp / "src_ava.csv"), "kinetics_csv": str(tmp / "src_k.csv"),
            "store_db": str(tmp / "src_store.db")}


def test_fuzzed_files_never_crash_hang_or_leak(tmp: Path) -> None:
    """A few hundred mutants (byte flips, truncation, opcode splicing) of valid checkpoints,
    proposal pickles, stores and annotation files, in one process under 4 GiB: each is read or
    refused in one line naming the file, quickly; none kills the process. (About 6 s.)"""
    from helpers import CLI_ENV

    work = tmp / "work"
    work.mkdir()
    spec = {"sources": _fuzz_sources(tmp), "seed": 17, "count": 350, "folder": str(work)}
    (tmp / "fuzz.json").write_text(json.dumps(spec))
    run = subprocess.run([sys.executable, str(RUNNER), "--fuzz", str(tmp / "fuzz.json")],
                         capture_output=True, text=True, timeout=240, env=CLI_ENV)
    rows, last = [], None
    for line in run.stdout.splitlines():
        if line.startswith("START "):
            last = line[6:]
        elif line.startswith("{"):
            rows.append(json.loads(line))
    assert run.returncode == 0, f"killed (rc {run.returncode}) by mutant {last}: {run.stderr[-1500:]}"
    assert len(rows) == spec["count"]
    bad = [row for row in rows if row["traceback"]]
    assert not bad, "\n".join(f"{row['id']}: {row['traceback']}" for row in bad[:3])
    slow = [row for row in rows if row["seconds"] > 10]
    assert not slow, slow[:3]
    outcomes = {row["outcome"] for row in rows}
    assert outcomes == {"read", "refused"}, outcomes  # the mutants reach past the first check
