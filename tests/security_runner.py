"""Runs hostile cases in this process under an address-space limit; the tests start it.

Reads a JSON list of cases from the file named by argv[1]; each case is
``{"id", "cli": [...]}`` (``actionzoo.cli.main``) or ``{"id", "api": name, "args": [...]}``.
Before each case it prints ``START <id>`` (so a signal names the case that died); after it, one
JSON line ``{"id", "rc", "err", "out", "traceback", "seconds"}``. ``traceback`` holds the
exception type when a case raised something other than ``ActionZooError`` (a bug: every refusal
must be one line).
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import time
import traceback

LIMIT = 4 << 30  # 4 GiB of address space: more than any input under 1 MB may use


def _api(name: str, args: list) -> object:
    import actionzoo
    from actionzoo.ava.annotations import read_annotations_csv, read_proposals_pickle

    if name == "read_checkpoint":
        ckpt = actionzoo.read_checkpoint(args[0])
        # No process memory in what was read: no tensor claims more bytes than the file holds.
        import os

        size = os.path.getsize(args[0])
        for value in ckpt.state_dict.values():
            assert value.numel() * value.element_size() <= size, "a tensor larger than the file"
        return ckpt
    if name == "build_model":
        return actionzoo.build_model(args[1], args[0])
    if name == "inspect_checkpoint":
        return actionzoo.inspect_checkpoint(args[0])
    if name == "read_proposals_pickle":
        return read_proposals_pickle(args[0])
    if name == "read_annotations_csv":
        return read_annotations_csv(args[0])
    if name == "read_kinetics_csv":
        from actionzoo.data.annotations import read_kinetics_csv

        return read_kinetics_csv(args[0], args[1])
    if name == "resume_store":
        from actionzoo.evaluation.store import KeyframeStore, ResultsStore

        kind = ResultsStore if args[1] == "videos" else KeyframeStore
        with kind(args[0], {"model": "m"}, resume=True) as store:
            return list(store.results())
    if name == "postprocess":
        from actionzoo.evaluation.staged import postprocess
        from actionzoo.zoo.registry import get_model_spec

        return postprocess(args[0], get_model_spec("x3d_s_k400").protocol("official"))
    if name == "detect_ids":
        from actionzoo.ava.detect import detect

        return detect(args[0], args[1], args[2], engine=None)
    if name == "infer_paths":
        from actionzoo.evaluation.staged import infer_directory

        return infer_directory(None, args[0], args[1], batch_size=1)  # type: ignore[arg-type]
    if name == "write_text_atomic":
        from actionzoo.fileio.atomic import write_text_atomic

        return write_text_atomic(args[0], "data")
    raise ValueError(name)


def _mutants(sources: dict[str, str], seed: int, count: int):
    """(case id, reader, mutated bytes): byte flips, truncation and opcode splicing (a slice of
    another valid file inserted or overwritten at a random place), spread over the sources; a
    torch zip is mutated inside its object stream as well as byte by byte."""
    import random
    import zipfile

    rng = random.Random(seed)
    raw = {name: open(path, "rb").read() for name, path in sources.items()}
    donors = [data for name, data in raw.items() if name.endswith("pkl")]
    names = sorted(raw)
    for n in range(count):
        name = names[n % len(names)]
        data = bytearray(raw[name])
        inner = name == "torch_zip" and rng.random() < 0.6
        if inner:
            with zipfile.ZipFile(io.BytesIO(raw[name])) as archive:
                records = {item: archive.read(item) for item in archive.namelist()}
            pkl_name = next(item for item in records if item.endswith("data.pkl"))
            data = bytearray(records[pkl_name])
        how = rng.choice(["flip", "flip", "truncate", "splice"])
        if how == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == "truncate":
            del data[rng.randrange(1, len(data)):]
        else:
            donor = rng.choice(donors)
            start = rng.randrange(len(donor))
            piece = donor[start:start + rng.randint(1, 64)]
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at:at] = piece
            else:
                data[at:at + len(piece)] = piece
        if inner:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for item, content in records.items():
                    archive.writestr(item, bytes(data) if item == pkl_name else content)
            data = bytearray(buffer.getvalue())
        yield f"{name} #{n} {how}{' (object stream)' if inner else ''}", name, bytes(data)


_READERS = {"torch_zip": "read_checkpoint", "torch_legacy": "read_checkpoint",
            "caffe2_pkl": "read_checkpoint", "proposals_pkl": "read_proposals_pickle",
            "proposals_p5_pkl": "read_proposals_pickle",
            "ava_csv": "read_annotations_csv", "kinetics_csv": "read_kinetics_csv",
            "store_db": "resume_store"}


def fuzz(spec: dict) -> None:
    """Mutated files through their readers: every outcome is a result or an ActionZooError."""
    import os

    from actionzoo.errors import ActionZooError

    folder = spec["folder"]
    for case_id, name, data in _mutants(spec["sources"], spec["seed"], spec["count"]):
        suffix = os.path.splitext(spec["sources"][name])[1]
        path = os.path.join(folder, f"mutant{suffix}")
        for extra in ("-wal", "-shm", "-journal"):
            if os.path.exists(path + extra):
                os.remove(path + extra)
        with open(path, "wb") as f:
            f.write(data)
        args = [path, folder] if name == "kinetics_csv" else [path, "videos"] if name == "store_db" \
            else [path]
        print(f"START {case_id}", flush=True)
        start = time.perf_counter()
        tb = None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                _api(_READERS[name], args)
            outcome = "read"
        except ActionZooError as error:
            outcome = "refused"
            message = str(error)
            if "\n" in message or path not in message:
                tb = f"not a one-line message naming the file: {message[:300]!r}"
        except BaseException as error:  # noqa: BLE001
            outcome = "traceback"
            tb = f"{type(error).__name__}: {error}"[:300] + "\n" + traceback.format_exc()[-1500:]
        print(json.dumps({"id": case_id, "outcome": outcome, "traceback": tb,
                          "seconds": time.perf_counter() - start}), flush=True)


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    if sys.argv[1] == "--fuzz":
        with open(sys.argv[2]) as f:
            fuzz(json.load(f))
        return
    from actionzoo.cli import main as cli_main
    from actionzoo.errors import ActionZooError

    with open(sys.argv[1]) as f:
        cases = json.load(f)
    for case in cases:
        print(f"START {case['id']}", flush=True)
        out, err = io.StringIO(), io.StringIO()
        rc, tb = 0, None
        start = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if "cli" in case:
                    rc = cli_main(case["cli"])
                else:
                    _api(case["api"], case["args"])
            except ActionZooError as error:
                rc = 2
                err.write(f"actionzoo: error: {error}\n")
            except SystemExit as error:  # argparse
                rc = error.code if isinstance(error.code, int) else 2
            except BaseException as error:  # noqa: BLE001 - the bug this runner exists to find
                rc = -1
                tb = f"{type(error).__name__}: {error}"[:500] + "\n" + traceback.format_exc()[-1500:]
        print(json.dumps({"id": case["id"], "rc": rc, "err": err.getvalue(), "out": out.getvalue(),
                          "traceback": tb, "seconds": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
