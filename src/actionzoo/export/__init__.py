"""Export to ONNX (and OpenVINO IR) and the verification of an export against PyTorch."""

from actionzoo.export.examples import example_inputs
from actionzoo.export.onnx import DEFAULT_OPSET, export_model, export_onnx
from actionzoo.export.verify import VERIFY_TOLERANCE, VerifyReport, verify_engine

__all__ = ["DEFAULT_OPSET", "VERIFY_TOLERANCE", "VerifyReport", "example_inputs", "export_model",
           "export_onnx", "verify_engine"]
