"""Which AVA frame-mAP evaluator to reproduce, with what makes the two differ.

``official``: ActivityNet 2019 ``get_ava_performance.py`` at 3fee089, whose reader keeps the top 50
detections per keyframe and sorts each keyframe's detections by score. ``pyslowfast``: PySlowFast's
``ava_eval_helper``, the same evaluation core on data that never went through that reader: every
detection, in input order. :mod:`actionzoo.ava.metric` states both in full.
"""

from __future__ import annotations

import enum

from actionzoo.errors import UsageError

__all__ = ["AvaVariant"]


class AvaVariant(enum.StrEnum):
    OFFICIAL = "official"
    PYSLOWFAST = "pyslowfast"

    @classmethod
    def parse(cls, value: str) -> AvaVariant:
        """``value`` as a variant (a member passes through); a one-line error for anything else."""
        try:
            return cls(value)
        except ValueError:
            raise UsageError(f"unknown AVA evaluation variant {value!r}; use "
                             f"{' or '.join(v.value for v in cls)}") from None

    @property
    def official_order(self) -> bool:
        """Whether detections go through the official reader: top 50 per keyframe, each
        keyframe's detections sorted by score, ground truth through a heap (else: input order)."""
        return self is AvaVariant.OFFICIAL

    @property
    def protocol(self) -> str:
        """The evaluation protocol in words, as reports print it next to the mAP."""
        return _PROTOCOLS[self]


_PROTOCOLS = {
    AvaVariant.OFFICIAL: (
        "AVA frame-mAP@0.5IoU, ActivityNet 2019 evaluator (get_ava_performance.py @3fee089): "
        "label-map filter, top-50 detections per keyframe, per-keyframe score sort, "
        "excluded keyframes skipped, VOC all-point AP, mean over classes with GT"
    ),
    AvaVariant.PYSLOWFAST: (
        "AVA frame-mAP@0.5IoU, PySlowFast ava_eval_helper: official evaluation core without "
        "top-50 and without per-keyframe sort (input order), excluded keyframes skipped, "
        "VOC all-point AP, mean over classes with GT"
    ),
}
