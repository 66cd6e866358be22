"""ftclf: fine-tune and serve classification heads on pretrained transformer encoders.

The core is gradio-free: ``import ftclf`` never imports gradio (the UI lives in ``ftclf.ui``).
"""

__version__ = "0.1.0"

from .config import DEFAULT_ENCODER, ModelConfig, TrainingConfig  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    DataError,
    EncoderMismatchError,
    EncoderNotFoundError,
    FtclfError,
    InputError,
    ModelFormatError,
)
from .tasks import Example, TokenExample  # noqa: E402


def __getattr__(name):  # heavy modules (torch, transformers) load on first use
    if name == "Classifier":
        from .model import Classifier

        return Classifier
    if name in ("fit", "train", "TrainingEvent", "TrainResult"):
        from . import training

        return getattr(training, name)
    if name == "load_encoder":
        from .encoders import load_encoder

        return load_encoder
    if name in ("read_examples", "ColumnMap"):
        from . import data

        return getattr(data, name)
    if name == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'ftclf' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ENCODER", "Classifier", "ColumnMap", "ConfigError", "DataError", "EncoderMismatchError",
    "EncoderNotFoundError", "Example", "FtclfError", "InputError", "ModelConfig", "ModelFormatError",
    "TokenExample", "TrainResult", "TrainingConfig", "TrainingEvent", "evaluate", "fit", "load_encoder",
    "read_examples", "train",
]
