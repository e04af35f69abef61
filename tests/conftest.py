"""Shared fixtures and helpers. Tests build all their data themselves in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Machine-dependent choices (runtime.tuning) take their plain defaults in tests, in this process
# and in every subprocess a test starts, unless a test turns measuring on itself.
os.environ["ACTIONZOO_TUNING"] = "off"

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
