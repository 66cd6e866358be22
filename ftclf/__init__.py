"""ftclf: fine-tune and serve classification heads on pretrained transformer encoders.

The core is gradio-free: ``import ftclf`` never imports gradio (the UI lives in ``ftclf.ui``).
Names load on first use, so ``import ftclf`` is instant and torch loads only when needed.
"""

__version__ = "0.2.0"

import importlib

_EXPORTS = {
    "DEFAULT_ENCODER": "encoders", "Encoder": "encoders", "load_encoder": "encoders",
    "ModelConfig": "config", "TrainingConfig": "config",
    "ConfigError": "errors", "DataError": "errors", "EncoderMismatchError": "errors", "EncoderNotFoundError": "errors",
    "FtclfError": "errors", "InputError": "errors", "ModelFormatError": "errors",
    "ColumnMap": "data", "Example": "data", "TokenExample": "data",
    "TaskSpec": "tasks", "get_task": "tasks", "register_task": "tasks", "read_examples": "tasks",
    "Head": "heads", "HeadSpec": "heads", "get_head": "heads", "register_head": "heads",
    "Classifier": "model",
    "Predictor": "inference", "predict": "inference", "predict_file": "batch",
    "EntitySpan": "predictions", "SequencePrediction": "predictions", "TokenPrediction": "predictions",
    "WordPrediction": "predictions",
    "evaluate": "evaluation",
    "Attribution": "attribution", "EntityAttribution": "attribution", "WordAttribution": "attribution",
    "attribute": "attribution",
    "Audit": "label_issues", "Suspect": "label_issues", "audit": "label_issues",
    "Suggestion": "active_learning", "suggest": "active_learning",
    "Suite": "behaviour", "SuiteReport": "behaviour", "load_suite": "behaviour", "run_suite": "behaviour",
    "TrainResult": "training", "TrainingEvent": "training", "fit": "training", "train": "training",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ftclf' has no attribute {name!r}")


__all__ = list(_EXPORTS)  # noqa: PLE0605
