"""OpenVINO compiled models destroyed in creation order must not leave a dangling signal stack.

Without actionzoo's guard (engines/signal_stack.py) this sequence leaves the main thread's
alternate signal stack unmapped, and the SIGCHLD of the next child process kills the interpreter
with SIGSEGV: the crash that long single-process test runs hit. Each case runs in a fresh
interpreter so that a crash is an exit status here, not the end of the test run.
"""

from __future__ import annotations

import pytest

import subprocess
import sys
import textwrap
from pathlib import Path

from actionzoo.export import export_model

SCRIPT = textwrap.dedent("""
    import gc, signal, subprocess, sys
    from actionzoo.engines.openvino import OpenVinoEngine
    from actionzoo.engines.signal_stack import current_signal_stack

    def mapped(address, size):
        for line in open("/proc/self/maps"):
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            if low <= address and address + size <= high:
                return True
        return False

    first = OpenVinoEngine(sys.argv[1])
    second = OpenVinoEngine(sys.argv[1])
    del first; gc.collect()
    del second; gc.collect()
    address, size, enabled = current_signal_stack()
    assert not enabled or mapped(address, size), "the alternate signal stack is unmapped"
    signal.signal(signal.SIGCHLD, lambda *args: None)  # a handler that runs on that stack
    for _ in range(3):
        subprocess.run(["true"], check=True)
    print("survived")
""")


@pytest.mark.slow
def test_openvino_engines_destroyed_in_creation_order_leave_a_valid_signal_stack(tmp: Path) -> None:
    path, _ = export_model("x3d_s_k400", tmp / "x3d.onnx")
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.strip() == "survived"
