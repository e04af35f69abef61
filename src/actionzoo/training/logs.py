"""What a training run leaves to read: a JSON-lines log, TensorBoard events when the optional
``tensorboard`` package is installed, and a PNG of loss, learning rate and validation over time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["RunLog", "plot_curves"]


class RunLog:
    """Appends one JSON object per line to ``<work dir>/log.jsonl`` (flushed each time, so a
    killed run keeps what it logged) and mirrors scalars to TensorBoard when available."""

    def __init__(self, work_dir: Path, enabled: bool = True) -> None:
        self.path = work_dir / "log.jsonl"
        self.enabled = enabled
        self._file = self.path.open("a") if enabled else None
        self._board = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._board = SummaryWriter(str(work_dir / "tensorboard"))
            except Exception:  # tensorboard not installed: the JSON log is the record
                self._board = None

    def write(self, record: Mapping[str, object], step: int | None = None) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(dict(record), default=float) + "\n")
        self._file.flush()
        if self._board is not None and step is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "iter"):
                    self._board.add_scalar(f"{record.get('kind', 'train')}/{key}", value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._board is not None:
            self._board.close()
            self._board = None


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill
            continue
    return rows


def plot_curves(log: Path, out: Path, title: str = "") -> Path:
    """Loss and learning rate per iteration, validation metric per epoch, from ``log.jsonl``."""
    from matplotlib.figure import Figure  # not pyplot: no global backend or figure registry

    rows = read_log(log)
    steps = [r for r in rows if r.get("kind") == "train"]
    vals = [r for r in rows if r.get("kind") == "val"]
    fig = Figure(figsize=(13, 3.6), dpi=110)
    axes = fig.subplots(1, 3)
    axes[0].plot([r["iter"] for r in steps], [r["loss"] for r in steps], lw=1)
    axes[0].set_title("training loss")
    axes[0].set_xlabel("iteration")
    axes[1].plot([r["iter"] for r in steps], [r["lr"] for r in steps], lw=1, color="tab:orange")
    axes[1].set_title("learning rate")
    axes[1].set_xlabel("iteration")
    if vals:
        metric = vals[0].get("metric", "top1")
        axes[2].plot([r["epoch"] for r in vals], [100 * r["value"] for r in vals], marker="o",
                     color="tab:green")
        axes[2].set_title(f"validation {metric} (%)")
    else:
        axes[2].set_title("validation (none run)")
    axes[2].set_xlabel("epoch")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
