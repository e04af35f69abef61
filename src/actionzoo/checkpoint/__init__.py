"""Checkpoint files: reading every reference container safely, and fitting weights to a model."""

from actionzoo.checkpoint.caffe2 import caffe2_blob_to_key
from actionzoo.checkpoint.fit import FitReport, check_fit, load_state_dict_strict
from actionzoo.checkpoint.read import Checkpoint, CheckpointFormat, read_checkpoint

__all__ = [
    "Checkpoint",
    "CheckpointFormat",
    "FitReport",
    "caffe2_blob_to_key",
    "check_fit",
    "load_state_dict_strict",
    "read_checkpoint",
]
