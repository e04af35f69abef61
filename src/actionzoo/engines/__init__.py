"""Inference engines behind one interface: PyTorch, ONNX Runtime and OpenVINO.

The runtimes are imported when an engine of that kind is made, so the PyTorch path runs on a
machine without ONNX Runtime or OpenVINO.
"""

from actionzoo.engines.base import Engine, EngineBase, EngineInfo, Fp32Counterpart
from actionzoo.engines.registry import ENGINES, EngineKind, create_engine, engine_kind, register_engine
from actionzoo.runtime.precisions import Precision

__all__ = ["ENGINES", "Engine", "EngineBase", "EngineInfo", "EngineKind", "Fp32Counterpart",
           "OnnxRuntimeEngine", "OpenVinoEngine", "Precision", "TorchEngine", "create_engine",
           "engine_kind", "register_engine"]


def __getattr__(name: str) -> object:
    if name == "TorchEngine":
        from actionzoo.engines.pytorch import TorchEngine

        return TorchEngine
    if name == "OnnxRuntimeEngine":
        from actionzoo.engines.onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine
    if name == "OpenVinoEngine":
        from actionzoo.engines.openvino import OpenVinoEngine

        return OpenVinoEngine
    raise AttributeError(f"module 'actionzoo.engines' has no attribute {name!r}")
