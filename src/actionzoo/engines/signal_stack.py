"""A permanent alternate signal stack for threads that compile OpenVINO models.

OpenVINO's CPU plugin gives the calling thread an alternate signal stack of its own when it
compiles a model (AMX tile state makes signal frames larger than the stack Python's faulthandler
sets up; openvinotoolkit/openvino#11894, ``SigAltStackSetup`` in the intel_cpu plugin). It saves
the stack that was active, and restores it and unmaps its own when the compiled model goes away.
That is only right when compiled models die in the reverse order of their creation: destroy two
in creation order and the thread is left pointing at an unmapped stack. The next signal whose
handler runs on the alternate stack (SIGCHLD after ``subprocess.run`` or a data-loader worker
exit, with Python's or torch's handlers, which use ``SA_ONSTACK``) then cannot be delivered, and the
kernel kills the process with SIGSEGV (``si_code`` SI_KERNEL) before faulthandler can print a
line, since faulthandler's own handler needs the same stack. Reproduced here with two
``compile_model`` calls and one ``subprocess.run``; it is what crashed long test runs.

The remedy: before and after every compile, the thread gets actionzoo's own stack, allocated
once and never freed. Every compiled model then saves and later restores that stack, whatever
order they die in.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator

__all__ = ["permanent_signal_stack", "current_signal_stack"]

# Generous for AMX: the kernel's signal frame with the full XSAVE area is about 11 KiB on
# Sapphire Rapids; OpenVINO asks for AT_MINSIGSTKSZ + SIGSTKSZ.
_SIZE = 256 * 1024
_SS_DISABLE = 2


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_lock = threading.Lock()
_buffers: dict[int, ctypes.Array] = {}  # thread id -> its stack (kept alive for the process)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if sys.platform == "linux" else None


def current_signal_stack() -> tuple[int, int, bool]:
    """(address, size, enabled) of the calling thread's alternate signal stack."""
    if _libc is None:
        return 0, 0, False
    old = _StackT()
    _libc.sigaltstack(None, ctypes.byref(old))
    return int(old.ss_sp or 0), int(old.ss_size), not old.ss_flags & _SS_DISABLE


def _install() -> None:
    if _libc is None:
        return
    with _lock:
        buffer = _buffers.get(threading.get_ident())
        if buffer is None:
            buffer = _buffers[threading.get_ident()] = ctypes.create_string_buffer(_SIZE)
    stack = _StackT(ctypes.addressof(buffer), 0, _SIZE)
    if _libc.sigaltstack(ctypes.byref(stack), None) != 0:  # pragma: no cover - only while on it
        return


@contextlib.contextmanager
def permanent_signal_stack() -> Iterator[None]:
    """Run the block (an OpenVINO compile) with actionzoo's stack installed before and after."""
    _install()
    try:
        yield
    finally:
        _install()
