"""Small-file creation per folder: what the test suite's temporary folders cost on each file system.

The suite writes ~200,000 small files (AVA frame folders of 27,000 JPEGs, rawframes, checkpoints),
so the cost of creating one decides where its temporary folders go (tests/conftest.py puts
pytest's on /dev/shm when it has room). Each folder given gets ``--files`` files of ``--bytes``
bytes, created, written and closed one by one, then removed; rounds interleave the folders.

    python benchmarks/file_creation.py [--dirs /tmp,/dev/shm] [--files 3000] [--bytes 800] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def create_files(root: Path, count: int, size: int) -> tuple[float, float]:
    """(seconds to create ``count`` files of ``size`` bytes under a new folder of ``root``,
    seconds to remove them)."""
    folder = Path(tempfile.mkdtemp(prefix="file-creation-", dir=root))
    payload = b"x" * size
    started = time.perf_counter()
    for i in range(count):
        with open(folder / f"frame_{i:06d}.jpg", "wb") as f:
            f.write(payload)
    created = time.perf_counter() - started
    started = time.perf_counter()
    shutil.rmtree(folder)
    return created, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirs", default="/tmp,/dev/shm")
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--bytes", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    roots = [Path(d) for d in args.dirs.split(",") if Path(d).is_dir()]
    times: dict[Path, list[tuple[float, float]]] = {root: [] for root in roots}
    for _ in range(args.rounds):
        for root in roots:
            times[root].append(create_files(root, args.files, args.bytes))
    print(f"{args.files} files of {args.bytes} bytes, median of {args.rounds} rounds")
    print(f"{'folder':<12} {'us per file':>12} {'remove, us per file':>20}")
    for root, rows in times.items():
        create = statistics.median(r[0] for r in rows) / args.files * 1e6
        remove = statistics.median(r[1] for r in rows) / args.files * 1e6
        print(f"{str(root):<12} {create:>12.0f} {remove:>20.0f}")


if __name__ == "__main__":
    main()
