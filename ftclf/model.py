"""A classifier: a pretrained encoder plus a task head; ``save_pretrained`` / ``from_pretrained``.

The forward pass is split in two so that frozen training can cache the first half:
:meth:`Classifier.features` (encoder -> pooled or per-word vectors, as the task says) and
:meth:`Classifier.head_input` + the head (vectors -> logits, a loss only when labels are given).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers.utils import ModelOutput

from . import __version__, format, hub_heads
from .calibration import Calibration
from .card import model_card
from .config import ModelConfig, TrainingConfig
from .encoders import Encoder, load_encoder
from .errors import ConfigError, EncoderMismatchError, FtclfError, ModelFormatError
from .heads import get_head
from .tokenization import WORD_SHAPES, Batch, case_marker_ids

ENCODER_PREFIX = "encoder."
WORD_SHAPE_DIM = 16


@dataclass
class ClassifierOutput(ModelOutput):
    """loss: scalar, only when labels were given. logits: (batch, num_labels) for text tasks,
    (batch, n_words, num_labels) for token tasks (a CRF head's emission scores)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class Classifier(nn.Module):
    def __init__(self, config: ModelConfig, encoder: Encoder) -> None:
        super().__init__()
        self.model_config = config  # not `config`: Trainer treats a `config` attribute as a transformers config
        self.task = config.task_spec
        self.encoder = encoder.model
        self.tokenizer = encoder.tokenizer
        self.encoder_ref = format.EncoderRef(encoder.name, encoder.fingerprint, encoder.hidden_size)
        self.mode = "frozen"
        self.training_config: TrainingConfig | None = None
        self.metrics: dict = {}
        self.data_info: dict = {}
        #: how the head's scores become calibrated probabilities (``ftclf.calibration``); None: plain softmax
        self.calibration: Calibration | None = None
        if config.case_markers:
            try:
                case_marker_ids(self.tokenizer)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        in_features = self.task.in_features(encoder.hidden_size, config)
        self.shape_embedding = None
        if config.word_shape:
            self.shape_embedding = nn.Embedding(len(WORD_SHAPES), WORD_SHAPE_DIM, padding_idx=0)
            in_features += WORD_SHAPE_DIM
        self.in_features = in_features
        self.head = get_head(config.head).build(in_features, config, self.task)

    # ----------------------------------------------------------------- properties
    @property
    def labels(self) -> list[str]:
        return self.model_config.labels

    @property
    def max_length(self) -> int:
        limit = int(getattr(getattr(self.encoder, "config", None), "max_position_embeddings", 512))
        return min(self.model_config.max_length, limit)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight that is not the encoder's: head (CRF included), word-shape embedding."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(ENCODER_PREFIX)}

    def count_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------- forward
    def hidden(self, batch: Batch) -> torch.Tensor:
        """The encoder's last hidden states -> (batch, seq_len, hidden)."""
        return self.encoder(**batch.encoder_inputs()).last_hidden_state

    def features(self, batch: Batch, poolings: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Encoder half of the forward pass: the task's vectors for each input (see TaskSpec.features)."""
        return self.task.features(self.hidden, batch, tuple(poolings or (self.model_config.pooling,)))

    def head_input(self, features: dict[str, torch.Tensor], word_shape: torch.Tensor | None = None) -> torch.Tensor:
        """The head's input: the task's vectors, joined by the word-shape embedding when used."""
        x = self.task.head_input(features, self.model_config)
        if self.shape_embedding is not None:
            x = torch.cat([x, self.shape_embedding(word_shape)], dim=-1)
        return x

    def forward(self, batch: Batch, labels: torch.Tensor | None = None) -> ClassifierOutput:
        batch = batch.to(self.device)
        out = self.head(self.head_input(self.features(batch), batch.word_shape), labels, batch.word_mask)
        return ClassifierOutput(loss=out.loss, logits=out.logits)

    # ------------------------------------------------------------ training modes
    def set_mode(self, mode: str, training: TrainingConfig | None = None) -> None:
        """Freeze the encoder, wrap it in LoRA adapters, or leave it all trainable; the head trains in
        every mode. A classifier loaded with its adapter (continuing its training) keeps that adapter and
        trains it on."""
        self.mode = mode
        for name, param in self.named_parameters():
            if not name.startswith(ENCODER_PREFIX):
                param.requires_grad_(True)
        if mode == "frozen":
            self.encoder.requires_grad_(False)
        elif mode == "full":
            self.encoder.requires_grad_(True)
        elif mode == "lora" and hasattr(self.encoder, "peft_config"):
            for name, param in self.encoder.named_parameters():
                param.requires_grad_("lora_" in name)
        elif mode == "lora":
            from peft import LoraConfig, get_peft_model

            training = training or TrainingConfig(mode="lora")
            targets = [
                name for name, module in self.encoder.named_modules()
                if isinstance(module, nn.Linear) and "pooler" not in name.split(".")
            ]
            lora = LoraConfig(
                r=training.lora_r, lora_alpha=training.lora_alpha, lora_dropout=training.lora_dropout,
                target_modules=targets,
            )
            self.encoder = get_peft_model(self.encoder, lora)
        else:  # pragma: no cover - TrainingConfig validates modes
            raise ValueError(mode)

    # --------------------------------------------------------------- persistence
    def metadata(self) -> format.Metadata:
        return format.Metadata(
            model=self.model_config, encoder=self.encoder_ref, mode=self.mode, training=self.training_config,
            metrics=self.metrics, data=self.data_info, ftclf_version=__version__, calibration=self.calibration,
            parameters={
                "head": sum(v.numel() for v in self.head_state_dict().values()),
                "trainable": self.count_parameters(trainable_only=True),
                "total": self.count_parameters(),
            },
        )

    def save_pretrained(self, directory: str | Path, exclusive: bool = False) -> Path:
        """Save atomically as JSON + safetensors (+ the LoRA adapter or the full encoder); with
        ``exclusive``, refuse to replace anything already at ``directory``."""
        meta = self.metadata()
        return format.write(directory, meta, self.head_state_dict(), model_card(meta), self._write_encoder, exclusive)

    def _write_encoder(self, directory: Path) -> None:
        if self.mode == "lora" and not hasattr(self.encoder, "peft_config"):
            raise FtclfError("expected a classifier with its LoRA adapter, got one loaded with merged=True (its adapter "
                             "is folded into the weights); save the classifier it was loaded from instead")
        if self.mode == "lora":
            for peft_config in self.encoder.peft_config.values():
                peft_config.base_model_name_or_path = self.encoder_ref.name  # not a local path of the trainer
            # The embeddings are never adapted here; saying so keeps peft from asking the hub about them.
            self.encoder.save_pretrained(str(directory / format.ADAPTER_DIR), save_embedding_layers=False)
        elif self.mode == "full":
            self.encoder.save_pretrained(str(directory / format.ENCODER_DIR))
            self.tokenizer.save_pretrained(str(directory / format.ENCODER_DIR))

    @classmethod
    def from_pretrained(cls, directory: str | Path, encoder: Encoder | None = None, merged: bool = False) -> Classifier:
        """Rebuild a saved classifier; refuses an encoder other than the one it was trained on.
        ``encoder``: an already loaded encoder to reuse (LoRA heads get their own copy).
        ``merged``: fold a LoRA adapter into the encoder's weights (faster to serve, not trainable
        or savable again). ``directory`` may also be a hub repository id ``owner/name`` of a pushed
        head (downloaded once into the hub cache, safetensors and JSON only)."""
        path = Path(directory).expanduser()
        if not path.exists() and hub_heads.is_repo_id(str(directory)):
            path = hub_heads.pull(str(directory))
        meta = format.read_metadata(path)
        if meta.runtime is not None:
            raise ModelFormatError(
                f"expected torch weights at {str(path)!r}, found an {meta.runtime} export; serve it with "
                "ftclf.serving.load(directory) (as `ftclf predict` and the dashboard do)"
            )
        clf = cls.assemble(meta, _encoder_for(path, meta, encoder), format.read_head_state(path, meta))
        if meta.mode == "lora":
            from peft import PeftModel

            clf.encoder = PeftModel.from_pretrained(clf.encoder, str(path / format.ADAPTER_DIR))
            if merged:
                clf.encoder = clf.encoder.merge_and_unload()
            clf.eval()
            clf.requires_grad_(False)
        return clf

    @classmethod
    def assemble(cls, meta: format.Metadata, encoder: Encoder, head_state: dict[str, torch.Tensor]) -> Classifier:
        """A classifier from saved metadata and head weights, on an encoder that is ready to use."""
        clf = cls(meta.model, encoder)
        clf.mode = meta.mode
        clf._load_head(head_state)
        clf.training_config, clf.metrics, clf.data_info = meta.training, dict(meta.metrics), dict(meta.data)
        clf.calibration = meta.calibration
        clf.eval()
        clf.requires_grad_(False)
        return clf

    def _load_head(self, state: dict[str, torch.Tensor]) -> None:
        expected = self.head_state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        wrong = [k for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
        if missing or unexpected or wrong:
            raise ModelFormatError(
                f"expected head weights matching config.json in {format.HEAD_NAME}, found missing {missing}, "
                f"unexpected {unexpected} and wrongly shaped {sorted(wrong)}; the files do not belong together, "
                "re-save the model"
            )
        self.load_state_dict(state, strict=False)


def _encoder_for(path: Path, meta: format.Metadata, encoder: Encoder | None) -> Encoder:
    trained_on = meta.encoder
    if meta.mode == "full":
        loaded = load_encoder(str(path / format.ENCODER_DIR))
        loaded.name, loaded.fingerprint = trained_on.name, trained_on.fingerprint
        return loaded
    encoder = encoder or load_encoder(trained_on.name)
    if encoder.fingerprint != trained_on.fingerprint:
        raise EncoderMismatchError(
            f"expected the encoder this head was trained with, {trained_on.name!r} (weights "
            f"fingerprint {trained_on.fingerprint}), got {encoder.name!r} (fingerprint "
            f"{encoder.fingerprint}); load the head onto {trained_on.name!r} or retrain it"
        )
    if meta.mode == "lora":  # adapters are injected in place: give them their own copy
        encoder = copy.copy(encoder)
        encoder.model = copy.deepcopy(encoder.model)
    return encoder
