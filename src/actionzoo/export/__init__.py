"""Export to ONNX (and OpenVINO IR) and the verification of an export against PyTorch.

Names load on first use, so that importing the package does not import ONNX. Random model inputs
shaped like a protocol's views are ``actionzoo.data.examples.example_inputs``.
"""

from __future__ import annotations

from actionzoo.lazy import lazy_getattr

_LAZY = {
    "DEFAULT_OPSET": "onnx",
    "export_model": "onnx",
    "export_onnx": "onnx",
    "VERIFY_TOLERANCE": "verify",
    "VerifyReport": "verify",
    "verify_engine": "verify",
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_getattr(__name__, _LAZY)
