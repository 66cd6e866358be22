"""Training: ``fit`` / ``train`` (``fit.py``), the frozen loop on cached features (``frozen.py``,
``features.py``), the transformers Trainer path (``trainer.py``) and progress events (``events.py``)."""

from .events import EventHandler, TrainingEvent, TrainResult
from .fit import fit, prepare_data, train

__all__ = ["EventHandler", "TrainResult", "TrainingEvent", "fit", "prepare_data", "train"]
