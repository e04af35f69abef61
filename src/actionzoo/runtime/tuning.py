"""Choices that depend on the machine, made by measuring on it once and remembered.

A choice (pad batch-1 Conv3d inputs in the PyTorch engine? which batch size runs an engine fastest?)
is keyed by what it is about and by the machine: CPU model, cores available, and the versions of
torch, ONNX Runtime and OpenVINO. The cache is a small JSON file, ``$ACTIONZOO_CACHE/tuning.json``
(default ``~/.cache/actionzoo``); deleting it makes actionzoo measure again.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from actionzoo.fileio.atomic import write_text_atomic

__all__ = ["available_cores", "cpu_model", "cpu_flags", "machine_fingerprint", "cache_path", "remembered", "recall",
           "store", "forget", "tuning_enabled"]


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, which a container or ``taskset`` can
    narrow below the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's feature flags as Linux reports them (empty where it does not)."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return []


@lru_cache(maxsize=1)
def machine_fingerprint() -> str:
    import torch

    versions = [f"torch {torch.__version__}"]
    # read from the installed metadata, never by importing: a torch-only run (the GPU check, on a
    # machine without OpenVINO) must not load the other runtimes just to name them
    for distribution in ("onnxruntime", "openvino"):
        try:
            versions.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:  # not installed: nothing it could have decided
            pass
    return f"{cpu_model()} x{available_cores()}; " + ", ".join(versions)


def cache_path() -> Path:
    root = os.environ.get("ACTIONZOO_CACHE") or Path.home() / ".cache" / "actionzoo"
    return Path(root) / "tuning.json"


def _load() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _key(what: Mapping[str, object]) -> str:
    return json.dumps({"machine": machine_fingerprint(), **dict(what)}, sort_keys=True, default=str)


def tuning_enabled() -> bool:
    """``ACTIONZOO_TUNING=off`` skips measuring and takes every choice's plain default (the test
    suite sets it, except where the measuring itself is tested)."""
    return os.environ.get("ACTIONZOO_TUNING", "on").lower() not in ("off", "0", "no")


def remembered(what: Mapping[str, object], measure: Callable[[], dict],
               default: dict | None = None) -> tuple[dict, bool]:
    """The choice stored for ``what`` on this machine, or ``measure()``'s, stored now (``default``
    when tuning is off). Returns ``(choice, measured_now)``."""
    if default is not None and not tuning_enabled():
        return default, False
    key = _key(what)
    cache = _load()
    if key in cache:
        return cache[key], False
    choice = measure()
    cache = _load()  # another process may have written meanwhile
    cache[key] = choice
    try:
        write_text_atomic(cache_path(), json.dumps(cache, indent=1) + "\n")
    except OSError:  # a read-only home: the choice still holds for this run
        pass
    return choice, True


def recall(what: Mapping[str, object]) -> dict | None:
    """The choice stored for ``what`` on this machine, without measuring (None: none stored, or
    tuning is off)."""
    if not tuning_enabled():
        return None
    return _load().get(_key(what))


def store(what: Mapping[str, object], choice: dict) -> None:
    """Record a choice measured elsewhere (a bench sweep) for ``what`` on this machine."""
    cache = _load()
    cache[_key(what)] = json.loads(json.dumps(choice, default=str))
    try:
        write_text_atomic(cache_path(), json.dumps(cache, indent=1) + "\n")
    except OSError:
        pass


def forget(what: Mapping[str, object] | None = None) -> None:
    """Drop one stored choice (or all)."""
    if what is None:
        cache_path().unlink(missing_ok=True)
        return
    cache = _load()
    if cache.pop(_key(what), None) is not None:
        write_text_atomic(cache_path(), json.dumps(cache, indent=1) + "\n")
