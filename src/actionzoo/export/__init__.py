"""Export to ONNX (and OpenVINO IR) and the verification of an export against PyTorch.

Names load on first use, so that ``actionzoo.export.examples`` (random model inputs, used by the
torch-only benchmarks) does not import ONNX.
"""

from __future__ import annotations

from actionzoo.lazy import lazy_getattr

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
__getattr__ = lazy_getattr(__name__, _LAZY)
