"""Export to ONNX (and OpenVINO IR) and the verification of an export against PyTorch.

Names load on first use, so that ``actionzoo.export.examples`` (random model inputs, used by the
torch-only benchmarks) does not import ONNX.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "example_inputs": "examples",
    "DEFAULT_OPSET": "onnx",
    "export_model": "onnx",
    "export_onnx": "onnx",
    "VERIFY_TOLERANCE": "verify",
    "VerifyReport": "verify",
    "verify_engine": "verify",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'actionzoo.export' has no attribute {name!r}")
