"""What happens in a video, by name: per-video top-k (``predict``) and a sliding-window timeline
over long videos and live sources (``timeline``)."""

from actionzoo.prediction.videos import ClassScore, Prediction, predict

__all__ = ["ClassScore", "Prediction", "predict"]
