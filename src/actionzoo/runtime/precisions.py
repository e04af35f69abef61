"""The numeric precisions an engine computes in, each carrying what the runtimes need to know.

A precision arrives as text once, at the edge (``--precision``, an API argument), and is a
:class:`Precision` from there on. It is a :class:`~enum.StrEnum`, so it compares equal to, prints
as and serialises as its name on the command line: stores and reports that key on ``"fp32"``
read the same as before the enum existed.

It lives here, low in the layers, because engines, export, precision, bench, evaluation and
training all speak of precisions and none of them may import another for it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from actionzoo.errors import UsageError

if TYPE_CHECKING:
    import torch

__all__ = ["Precision"]


class Precision(StrEnum):
    """``torch_dtype``: what torch computes in (None for int8: its layers come from a quantized
    file, not from autocast); ``openvino_hint``: OpenVINO's ``INFERENCE_PRECISION_HINT`` value
    (None for int8: the quantized graph sets it); ``reduced``: anything below fp32, whose drift
    from fp32 is measured."""

    # name on the command line, torch dtype's name, OpenVINO's hint. The dtype is named, not
    # held, so that parsing ``--precision`` (every CLI start) does not import torch.
    FP32 = "fp32", "float32", "f32"
    BF16 = "bf16", "bfloat16", "bf16"
    FP16 = "fp16", "float16", "f16"
    INT8 = "int8", None, None

    def __new__(cls, value: str, dtype_name: str | None, openvino_hint: str | None):
        member = str.__new__(cls, value)
        member._value_ = value
        member._dtype_name = dtype_name
        member.openvino_hint = openvino_hint
        return member

    @property
    def torch_dtype(self) -> torch.dtype | None:
        if self._dtype_name is None:
            return None
        import torch

        return getattr(torch, self._dtype_name)

    @property
    def reduced(self) -> bool:
        return self is not Precision.FP32

    @property
    def autocasts(self) -> bool:
        """Whether training can autocast to it (``train --amp``): a reduced float precision
        (int8 comes from a quantized file). Known without importing torch."""
        return self.reduced and self._dtype_name is not None

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype torch's autocast runs under for this precision (None: no autocast)."""
        return self.torch_dtype if self.reduced else None

    @classmethod
    def of(cls, value: str | Precision, what: str = "precision") -> Precision:
        """``value`` as a precision; a one-line :class:`UsageError` naming the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise UsageError(f"{what} {value!r} unknown; choose from {', '.join(cls)}") from None

    @classmethod
    def from_openvino_hint(cls, hint: str) -> Precision | None:
        """The precision a compiled OpenVINO model reports (``f32``, ``bf16``, ``f16``)."""
        return next((p for p in cls if p.openvino_hint == hint), None)
