"""Run the test suite one module per fresh interpreter, and sum the results.

Why not one pytest process: the suite loads torch, OpenVINO, ONNX Runtime, OpenCV and FFmpeg
(PyAV) with their thread pools, starts decode fork servers and kills subprocesses; after all of that
in one long-lived process we have seen the interpreter crash (SIGSEGV) in unrelated code late in the
run, never in any module on its own. A fresh interpreter per module keeps each module's native state
to itself. ``python -m pytest`` still works for running a subset.

    python tests/run.py [extra pytest options]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

NO_TESTS = 5  # pytest's exit code when nothing was collected


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    modules = sorted(here.glob("test_*.py"))
    totals = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    broken: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for module in modules:
            report = Path(tmp) / f"{module.stem}.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       f"--junitxml={report}", str(module), *argv]
            print(f"== {module.name}", flush=True)
            code = subprocess.run(command, cwd=here.parent).returncode
            if code == NO_TESTS:
                continue
            if not report.exists():
                broken.append(f"{module.name} (exit {code}, no report)")
                continue
            suite = ET.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            tests, failures = int(suite.get("tests", 0)), int(suite.get("failures", 0))
            errors, skipped = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
            totals["failed"] += failures
            totals["errors"] += errors
            totals["skipped"] += skipped
            totals["passed"] += tests - failures - errors - skipped
            if code != 0 and not (failures or errors):
                broken.append(f"{module.name} (exit {code})")
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{len(modules)} modules in {minutes:.1f} min")
    for item in broken:
        print(f"BROKEN {item}")
    failed = totals["failed"] + totals["errors"] + len(broken)
    print(f"{totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    if totals["passed"] == 0:
        print("no test ran: a suite that runs nothing proves nothing", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
