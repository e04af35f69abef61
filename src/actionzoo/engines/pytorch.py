"""PyTorch as an engine: eager or ``torch.compile``, on the CPU or a CUDA device, fp32 or autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
import torch

from actionzoo.engines.base import Engine, EngineInfo, Fp32Counterpart
from actionzoo.errors import UsageError
from actionzoo.runtime.cpu_precision import require_usable_on_cpu
from actionzoo.runtime.precisions import Precision
from actionzoo.runtime.timing import median_seconds
from actionzoo.runtime.tuning import remembered

__all__ = ["TorchEngine", "TORCH_PRECISIONS"]

TORCH_PRECISIONS = (Precision.FP32, Precision.BF16, Precision.FP16)  # int8 is an OpenVINO file


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device {name!r}; use cpu or cuda[:index]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {name}: this torch build or machine has no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"device {name}: only cpu and cuda are supported")
    return device


class TorchEngine(Engine):
    """A ``torch.nn.Module`` in eval mode behind the engine interface.

    ``precision`` other than fp32 runs the forward under autocast (bf16 or fp16); outputs come back
    as float32 either way. ``compile`` wraps the model in ``torch.compile``; ``channels_last``
    keeps the model and its 5D inputs in the channels-last-3d memory format; ``cuda_graphs``
    captures one CUDA graph per input shape and replays it. After :meth:`normalize_uint8` the
    engine also takes uint8 views and normalises them on its device.
    """

    accepts_uint8 = True

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        threads: int | None = None,
        compile: bool = False,
        device: str = "cpu",
        precision: Precision | str = Precision.FP32,
        channels_last: bool = False,
        cuda_graphs: bool = False,
    ) -> None:
        precision = Precision.of(precision)
        if precision not in TORCH_PRECISIONS:
            raise UsageError(
                f"the pytorch engine runs {', '.join(TORCH_PRECISIONS)}, not {precision.value!r}"
            )
        self.device = _device(device)
        if cuda_graphs and self.device.type != "cuda":
            raise UsageError("--cuda-graphs needs a cuda device (--device cuda)")
        if threads:
            torch.set_num_threads(threads)
        if self.device.type == "cpu":
            require_usable_on_cpu(precision, "--precision")
        self.model = model.eval().to(self.device)
        self._channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self._dtype = precision.autocast_dtype
        self._forward = torch.compile(self.model) if compile else self.model
        self._graphs = _CudaGraphs(self._call) if cuda_graphs else None
        self._uint8_table: torch.Tensor | None = None
        self._copy_stream = None  # made on first use: a CUDA stream for host-to-device copies
        # On some CPUs oneDNN's batch-1 Conv3d path is slow enough that running the row twice is
        # faster; on others it is the other way round (measured: R(2+1)D 0.48x on an AMD EPYC).
        # Whether to pad is measured here once per model, shape and machine (runtime.tuning).
        self._can_pad = self.device.type == "cpu" and any(
            isinstance(m, torch.nn.Conv3d) for m in self.model.modules())
        self._padding: dict[tuple[int, ...], bool] = {}
        self._settings = {"channels-last-3d": channels_last, "cuda graphs": cuda_graphs}
        self.info = self._make_info(compile, precision)

    def _make_info(self, compile: bool, precision: Precision) -> EngineInfo:
        settings = tuple((name, "on") for name, on in self._settings.items() if on)
        return EngineInfo(
            name="pytorch-compile" if compile else "pytorch",
            provider="torch.compile" if compile else "eager",
            device=str(self.device),
            precision=precision,
            threads=torch.get_num_threads() if self.device.type == "cpu" else None,
            settings=settings,
        )

    def normalize_uint8(self, table: np.ndarray) -> None:
        """Take uint8 ``(N, 3, T, H, W)`` views from now on and normalise them here with ``table``
        (``(256, 3)``: the float value of every uint8 value per channel, e.g. mmaction2's
        ``Normalize`` as :func:`~actionzoo.data.transforms.mmaction2_normalize_table`). A lookup,
        so the result is the one the CPU pipeline would have computed, bit for bit; the upload is a
        quarter of the float32 one."""
        table = np.asarray(table, dtype=np.float32)
        if table.shape != (256, 3):
            raise ValueError(f"expected a (256, 3) table, got {table.shape}")
        self._uint8_table = torch.from_numpy(np.ascontiguousarray(table.T)).to(self.device)
        self._settings["uint8 upload"] = True
        self.info = self._make_info(self.info.provider == "torch.compile", self.info.precision)

    @property
    def takes_uint8(self) -> bool:
        return self._uint8_table is not None

    @property
    def asynchronous(self) -> bool:
        """On a CUDA device :meth:`submit` returns before the outputs exist."""
        return self.device.type == "cuda"

    def fp32_counterpart(self, build_model=None) -> Fp32Counterpart:
        return Fp32Counterpart("the same PyTorch model without autocast", "pytorch",
                               model=self.model, device=str(self.device))

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":  # pinned, so the copy runs asynchronously to the host
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor

    def _prepare(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dtype == torch.uint8:
            if self._uint8_table is None:
                raise ValueError("uint8 views need normalize_uint8() first")
            channel = torch.arange(3, device=self.device).view(1, 3, 1, 1, 1)
            tensor = self._uint8_table[channel, tensor.long()]
        if self._channels_last and tensor.dim() == 5:
            tensor = tensor.contiguous(memory_format=torch.channels_last_3d)
        return tensor

    def _call(self, *tensors: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self._forward(*tensors)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def _forward_once(self, x: torch.Tensor, pad: bool) -> torch.Tensor:
        if pad:
            return self._forward(x.expand(2, *x.shape[1:]).contiguous())[:1]
        return self._forward(x)

    def pads_batch_one(self, x: torch.Tensor, timer: Callable[[Callable[[], object]], float] | None = None) -> bool:
        """Whether batch-1 calls of this shape run padded to 2 rows: measured (``timer``: seconds
        a call takes, median of a few) and remembered for this model, shape and machine."""
        shape = tuple(x.shape)
        if shape not in self._padding:
            timer = timer or median_seconds

            def measure() -> dict:
                with self._autocast():
                    plain = timer(lambda: self._forward_once(x, False))
                    padded = timer(lambda: self._forward_once(x, True))
                return {"pad": padded < 0.9 * plain, "plain_s": plain, "padded_s": padded}

            what = {"choice": "pytorch batch-1 padding", "model": type(self.model).__name__,
                    "parameters": sum(p.numel() for p in self.model.parameters()),
                    "shape": list(shape), "threads": torch.get_num_threads(),
                    "precision": self.info.precision}
            choice, _ = remembered(what, measure, default={"pad": False})
            self._padding[shape] = bool(choice["pad"])
        return self._padding[shape]

    def _compute(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if self._graphs is not None:
            return self._graphs.run(*tensors)
        with self._autocast():
            if tensors[0].shape[0] == 1 and len(tensors) == 1 and self._can_pad:
                return self._forward_once(tensors[0], self.pads_batch_one(tensors[0]))
            return self._forward(*tensors)

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        return self.submit(*inputs)()

    @torch.inference_mode()
    def submit(self, *inputs: np.ndarray) -> Callable[[], np.ndarray]:
        """Start a forward; the returned call gives its float32 outputs.

        On a CUDA device nothing here waits for the device: the inputs go up from pinned memory
        on a copy stream, the forward is queued on the compute stream behind that copy, and the
        outputs come down into pinned memory behind the forward. So while batch k computes, the
        host gathers batch k+1 and its upload runs beside the computation (the caller keeps one
        call in flight, runtime.batching). On the CPU the forward runs here.
        """
        if self.device.type != "cuda":
            outputs = self._compute([self._prepare(self._to_device(a)) for a in inputs])
            computed = outputs.float().numpy()
            return lambda: computed
        with torch.cuda.device(self.device):
            compute = torch.cuda.current_stream()
            if self._copy_stream is None:
                self._copy_stream = torch.cuda.Stream()
            with torch.cuda.stream(self._copy_stream):
                uploaded = [self._to_device(a) for a in inputs]
            compute.wait_stream(self._copy_stream)
            for tensor in uploaded:  # made on the copy stream, used and freed on the compute one
                tensor.record_stream(compute)
            out = self._compute([self._prepare(t) for t in uploaded]).float()
            host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(out, non_blocking=True)
            done = torch.cuda.Event()
            done.record(compute)

        def result() -> np.ndarray:
            done.synchronize()
            return host.numpy()

        return result


class _CudaGraphs:
    """One captured CUDA graph per input signature, replayed with the inputs copied into its
    static buffers: the kernel launches of a whole forward become one (torch.cuda.CUDAGraph)."""

    def __init__(self, call: Callable[..., torch.Tensor], warmup: int = 3) -> None:
        self._call = call
        self._warmup = warmup
        self._captured: dict[tuple, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], torch.Tensor]] = {}

    def run(self, *tensors: torch.Tensor) -> torch.Tensor:
        signature = tuple((tuple(t.shape), t.dtype) for t in tensors)
        if signature not in self._captured:
            self._captured[signature] = self._capture(tensors)
        graph, static_inputs, static_output = self._captured[signature]
        for buffer, tensor in zip(static_inputs, tensors):
            buffer.copy_(tensor, non_blocking=True)
        graph.replay()
        return static_output.clone()

    def _capture(self, tensors: tuple[torch.Tensor, ...]):
        static_inputs = [t.clone() for t in tensors]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph (cudnn autotuning, allocations)
            for _ in range(self._warmup):
                self._call(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = self._call(*static_inputs)
        return graph, static_inputs, static_output


