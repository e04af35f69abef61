"""Training and fine-tuning on one process or many: ``actionzoo.train(TrainConfig(...))``."""

from actionzoo.training.config import TrainConfig, TrainPlan
from actionzoo.training.loop import TrainResult, train

__all__ = ["TrainConfig", "TrainPlan", "TrainResult", "train"]
