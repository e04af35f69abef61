"""Shared fixtures and helpers. Tests build all their data themselves in temporary folders."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Idle OpenMP threads sleep instead of spinning. The suite runs the demo, torchrun workers and
# side-by-side runs on the same two cores as this process: libgomp's default spin (300,000 rounds
# at every barrier) then burned 14 % of the suite's CPU time in threads waiting for a peer that was
# not scheduled (docs/benchmarks.md, "Stop 30"). Read when torch loads libgomp, so set before any
# test module imports torch; every process a test starts inherits it.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

# Machine-dependent choices (runtime.tuning) take their plain defaults in tests, in this process
# and in every subprocess a test starts, unless a test turns measuring on itself.
os.environ["ACTIONZOO_TUNING"] = "off"

# The suite's files go to memory where the machine has room for them: the tests create ~200,000
# small files (AVA frame folders of 27,000 JPEGs, rawframes) and write GBs of checkpoints, and
# while those are written back a file creation on the virtual disk took ~1 ms against ~30 us on
# tmpfs (docs/benchmarks.md, "The test suite"). Only pytest's own folders move (tmp_path,
# tmp_path_factory): tempfile, and with it the multiprocessing and torchrun folders of every
# process, stays where TMPDIR says.
RAM_TEMP = Path("/dev/shm")
RAM_TEMP_NEEDED = 8 << 30  # the suite peaks at ~3 GB there (float64 checkpoints): room to spare
_ram_temp: Path | None = None


def _room_in_ram() -> bool:
    if os.environ.get("ACTIONZOO_TEST_TMP") == "disk" or not RAM_TEMP.is_dir():
        return False
    try:
        return os.access(RAM_TEMP, os.W_OK) and shutil.disk_usage(RAM_TEMP).free >= RAM_TEMP_NEEDED
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)  # before pytest's tmp_path plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """pytest's temporary folders on tmpfs when it has room and no --basetemp was given;
    ``ACTIONZOO_TEST_TMP=disk`` keeps them on the disk."""
    global _ram_temp
    if config.option.basetemp is None and _room_in_ram():
        _ram_temp = Path(tempfile.mkdtemp(prefix="actionzoo-tests-", dir=RAM_TEMP))
        config.option.basetemp = str(_ram_temp / "pytest")
    # What is measured all the same (whether this CPU runs bf16 at a usable speed) is remembered
    # in a cache of the test session's own, never in the user's home.
    os.environ.setdefault("ACTIONZOO_CACHE", tempfile.mkdtemp(prefix="actionzoo-test-cache-",
                                                              dir=_ram_temp))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ram_temp is not None:  # memory, not disk: nothing is left behind
        shutil.rmtree(_ram_temp, ignore_errors=True)


DATA_DIR = Path(__file__).parent / "data"


def reference_keys(name: str) -> list[tuple[str, tuple[int, ...], str]]:
    """Every state-dict entry of a reference model: (key, shape, dtype), in registration order.

    The lists in ``tests/data/keys`` were taken from the pinned reference implementations
    (``model.state_dict()`` of the reference network); they are facts to test against.
    """
    rows = []
    for line in (DATA_DIR / "keys" / f"{name}.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype = line.split()
        dims = () if shape == "-" else tuple(int(d) for d in shape.split(","))
        rows.append((key, dims, dtype))
    return rows


def reference_header(name: str) -> dict[str, int]:
    """The entry and parameter counts recorded in a key list's header."""
    for line in (DATA_DIR / "keys" / f"{name}.txt").read_text().splitlines():
        if line.startswith("# entries:"):
            parts = line[1:].split()
            return {"entries": int(parts[1]), "parameters": int(parts[3])}
    raise KeyError(name)


def caffe2_blob_map() -> list[tuple[str, str, tuple[int, ...]]]:
    """(Caffe2 blob name, PySlowFast key, shape) for SlowFast R50, from PySlowFast's converter."""
    rows = []
    for line in (DATA_DIR / "keys" / "slowfast_r50_caffe2_blob_map.txt").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        blob, key, shape = line.split()
        rows.append((blob, key, tuple(int(d) for d in shape.split(","))))
    return rows


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def train_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic labelled videos, 4 classes: videos.txt (32), heldout.txt (16 others),
    train.txt (videos.txt + a corrupt file), small.txt (8)."""
    from actionzoo.data.synthetic import write_synthetic_videos

    root = tmp_path_factory.mktemp("train")
    write_synthetic_videos(root, num_classes=4, videos_per_class=8, num_frames=48, size=(64, 86))
    write_synthetic_videos(root, num_classes=4, videos_per_class=4, num_frames=48, size=(64, 86),
                           first=100, annotation_name="heldout.txt")
    (root / "videos" / "corrupt.mp4").write_bytes(os.urandom(3000))
    lines = (root / "videos.txt").read_text().splitlines()
    (root / "train.txt").write_text("\n".join(lines + ["videos/corrupt.mp4 2"]) + "\n")
    (root / "small.txt").write_text("\n".join(lines[::4]) + "\n")  # 8 videos, 2 per class
    return root


TRAINED_MODEL = "slowfast_r50_8x8x1_k400"


DEMO_TIMEOUT_S = 900


class BackgroundDemo:
    """``actionzoo demo --model slowfast_r50_8x8x1_k400 --epochs 4`` in its own process (fault
    handler on) at the lowest CPU priority, started when the session begins: it trains on the
    cores the other tests leave idle (the suite keeps ~1.2 of 2 busy), and its result is ready, or
    nearly, by the time a test needs it."""

    def __init__(self, out: Path) -> None:
        import subprocess
        import sys

        self.out = out
        self.command = [sys.executable, "-m", "actionzoo.cli", "demo", "--out", str(out), "--model",
                        TRAINED_MODEL, "--epochs", "4"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
        self._logs = out.parent / "demo.stdout", out.parent / "demo.stderr"
        with self._logs[0].open("w") as stdout, self._logs[1].open("w") as stderr:
            self.process = subprocess.Popen(self.command, env=env, stdout=stdout, stderr=stderr)
        try:  # before it imports torch, so its decode workers inherit the priority too
            os.setpriority(os.PRIO_PROCESS, self.process.pid, 19)
        except OSError:
            pass

    def result(self):
        """The finished process, as ``subprocess.run`` returns it (killed after DEMO_TIMEOUT_S)."""
        import subprocess

        try:
            code = self.process.wait(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        stdout, stderr = (log.read_text(errors="replace") for log in self._logs)
        return subprocess.CompletedProcess(self.command, code, stdout, stderr)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _needs_demo(item: pytest.Item) -> bool:
    return "demo_run" in item.fixturenames


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that need the demo run last, in their order: the demo, started with the session
    at the lowest priority, then has the whole session to finish on idle cores."""
    items.sort(key=_needs_demo)  # stable: each part keeps its order


@pytest.fixture(scope="session", autouse=True)
def background_demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The demo started with the session when a selected test needs it (``demo_run``)."""
    if not any(map(_needs_demo, request.session.items)):
        yield None
        return
    demo = BackgroundDemo(tmp_path_factory.mktemp("demo") / "demo")
    yield demo
    demo.stop()


@pytest.fixture(scope="session")
def demo_run(background_demo: BackgroundDemo | None, tmp_path_factory: pytest.TempPathFactory):
    """(out dir, the finished process) of the demo, the main job, run once for the session (see
    :class:`BackgroundDemo`): it trains the SlowFast at 64 x 64 on 32 synthetic videos of 4
    classes, then exports, evaluates and benchmarks it. test_staged_bench_demo checks the demo;
    tests that need a model that learned something (training checkpoints, precision drift) use its
    training run (``trained_slowfast``) and data (``trained_videos``)."""
    demo = background_demo or BackgroundDemo(tmp_path_factory.mktemp("demo") / "demo")
    return demo.out, demo.result()


@pytest.fixture(scope="session")
def trained_slowfast(demo_run):
    """(work dir, the finished demo process) of the demo's SlowFast training run: 4 epochs,
    validation on the 16 held-out videos at epochs 2 and 4, precise BN."""
    out, done = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "train", done


@pytest.fixture(scope="session")
def trained_videos(demo_run) -> Path:
    """The demo's synthetic videos: videos.txt (32, trained on), heldout.txt (16), classes.txt."""
    return demo_run[0] / "data"
