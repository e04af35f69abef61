"""Shared fixtures and helpers. Tests build all their data themselves in temporary folders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Machine-dependent choices (runtime.tuning) take their plain defaults in tests, in this process
# and in every subprocess a test starts, unless a test turns measuring on itself.
os.environ["ACTIONZOO_TUNING"] = "off"
# What is measured all the same (whether this CPU runs bf16 at a usable speed) is remembered in a
# cache of the test session's own, never in the user's home.
os.environ.setdefault("ACTIONZOO_CACHE", tempfile.mkdtemp(prefix="actionzoo-test-cache-"))

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


@pytest.fixture(scope="session")
def trained_slowfast(train_videos: Path, tmp_path_factory: pytest.TempPathFactory):
    """(work dir, the finished process) of a SlowFast trained on ``train_videos`` at 64 x 64 by
    ``actionzoo train``: it reaches >= 90 % on the held-out videos (test_training checks), so
    tests that need a model that learned something (precision drift) use it."""
    from helpers import run_cli

    work = tmp_path_factory.mktemp("trained") / "run"
    # 64 x 64 crops and precise BN (eval-mode statistics of the final weights): without them a
    # run this short lands anywhere between 40 and 100 % (measured).
    done = run_cli(["train", TRAINED_MODEL, "--ann", str(train_videos / "train.txt"),
                    "--data-root", str(train_videos), "--num-classes", "4",
                    "--class-names", str(train_videos / "classes.txt"),
                    "--val-ann", str(train_videos / "heldout.txt"), "--work-dir", str(work),
                    "--epochs", "6", "--batch-size", "8", "--val-every", "3", "--lr", "0.003",
                    "--precise-bn", "4", "--workers", "1", "--input-size", "64", "--no-progress"],
                   threads=len(os.sched_getaffinity(0)))  # compared with no other run: all cores
    return work, done
