"""A classifier: a pretrained encoder plus a task head (and, for tagging, an optional CRF).

The forward pass is split in two so that frozen training can cache the first half:
``encode_features`` (encoder -> pooled or per-word vectors) and ``head_forward``
(vectors -> logits, plus a loss only when labels are given).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from .config import ModelConfig, TrainingConfig
from .crf import CRF, iob2_constraints
from .encoders import Encoder, pool
from .heads import WORD_SHAPE_DIM, WORD_SHAPES, build_head
from .tokenization import collate

ENCODER_PREFIX = "encoder."


@dataclass
class ClassifierOutput(ModelOutput):
    """loss: scalar, only when labels were given. logits: (batch, num_labels) for sequence and
    pair tasks, (batch, n_words, num_labels) for token tasks (CRF emissions for a CRF head)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class Classifier(nn.Module):
    def __init__(self, config: ModelConfig, encoder: Encoder) -> None:
        super().__init__()
        self.spec = config  # not `config`: Trainer treats a `config` attribute as a transformers config
        self.encoder = encoder.model
        self.tokenizer = encoder.tokenizer
        self.encoder_name = encoder.name
        self.encoder_fingerprint = encoder.fingerprint
        self.hidden_size = encoder.hidden_size
        self.mode = "frozen"
        self.training_config: TrainingConfig | None = None
        self.metrics: dict = {}
        self.data_info: dict = {}
        in_features = self.hidden_size
        if self.is_concat:
            in_features *= 4 if config.pair_features else 2
        self.shape_embedding = None
        if config.word_shape:
            self.shape_embedding = nn.Embedding(len(WORD_SHAPES), WORD_SHAPE_DIM, padding_idx=0)
            in_features += WORD_SHAPE_DIM
        self.in_features = in_features
        self.head = build_head(config.head, in_features, config.num_labels, config.mlp_hidden, config.dropout)
        self.crf = CRF(config.num_labels, *iob2_constraints(config.labels)) if config.head == "crf" else None

    # ----------------------------------------------------------------- properties
    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def is_token(self) -> bool:
        return self.spec.task == "token"

    @property
    def is_concat(self) -> bool:
        return self.spec.task == "pair" and self.spec.pair_mode == "concat"

    @property
    def max_length(self) -> int:
        limit = int(getattr(self.encoder_config, "max_position_embeddings", 512))
        return min(self.spec.max_length, limit)

    @property
    def encoder_config(self):
        return getattr(self.encoder, "config", None)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """Every weight that is not the encoder's: head, CRF, word-shape embedding."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(ENCODER_PREFIX)}

    def count_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------- forward
    def batch_inputs(self, items: Sequence[dict]) -> dict[str, torch.Tensor]:
        """Pad input items into one batch on the model's device (labels left out)."""
        batch = collate(items, self.tokenizer.pad_token_id or 0)
        batch.pop("labels", None)
        return {k: v.to(self.device) for k, v in batch.items()}

    def _hidden(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.encoder(**kwargs).last_hidden_state  # shape: (batch, seq_len, hidden)

    def encode_features(
        self, input_ids, attention_mask, token_type_ids=None, input_ids_b=None, attention_mask_b=None,
        token_type_ids_b=None, word_index=None, poolings: Sequence[str] | None = None, **_: object,
    ) -> dict[str, torch.Tensor]:
        """Encoder half of the forward pass.

        Token tasks: {"words": (batch, n_words, hidden)}, each word's first sub-token vector.
        Sequence/pair: {pooling: (batch, hidden)} per pooling asked for, and for concat pairs
        also {pooling + "_b": (batch, hidden)} for the second text.
        """
        hidden = self._hidden(input_ids, attention_mask, token_type_ids)
        if self.is_token:
            index = word_index.unsqueeze(-1).expand(-1, -1, hidden.size(-1))
            return {"words": hidden.gather(1, index)}
        poolings = tuple(poolings or (self.spec.pooling,))
        out = {p: pool(hidden, attention_mask, p) for p in poolings}
        if self.is_concat:
            hidden_b = self._hidden(input_ids_b, attention_mask_b, token_type_ids_b)
            out.update({f"{p}_b": pool(hidden_b, attention_mask_b, p) for p in poolings})
        return out

    def head_features(self, features: dict[str, torch.Tensor], word_shape: torch.Tensor | None = None) -> torch.Tensor:
        """The head's input: pooled h (eq. 11.11), concat(h_a, h_b[, |h_a-h_b|, h_a*h_b]) or h_i."""
        if self.is_token:
            x = features["words"]
            if self.shape_embedding is not None:
                x = torch.cat([x, self.shape_embedding(word_shape)], dim=-1)
            return x
        a = features[self.spec.pooling]
        if not self.is_concat:
            return a
        b = features[f"{self.spec.pooling}_b"]
        parts = [a, b] + ([torch.abs(a - b), a * b] if self.spec.pair_features else [])
        return torch.cat(parts, dim=-1)

    def head_forward(
        self, features: torch.Tensor, labels: torch.Tensor | None = None, word_mask: torch.Tensor | None = None
    ) -> ClassifierOutput:
        """Head half: features -> logits; the loss only when labels are given."""
        logits = self.head(features)
        loss = None
        if labels is not None:
            if self.crf is not None:
                loss = self.crf.neg_log_likelihood(logits, labels, word_mask)
            elif self.is_token:
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)
            else:
                loss = F.cross_entropy(logits, labels)
        return ClassifierOutput(loss=loss, logits=logits)

    def forward(self, word_shape=None, labels=None, **inputs) -> ClassifierOutput:
        features = self.encode_features(**inputs)
        word_mask = inputs["word_index"] > 0 if self.is_token else None
        return self.head_forward(self.head_features(features, word_shape), labels, word_mask)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def decode(self, logits: torch.Tensor, word_mask: torch.Tensor | None = None) -> tuple[list, torch.Tensor]:
        """(predicted label ids, probabilities). Softmax + argmax (eqs. 11.12/11.13), or for a
        CRF head the Viterbi path with forward-backward marginals as probabilities."""
        if self.crf is not None:
            return self.crf.decode(logits, word_mask), self.crf.marginals(logits, word_mask)
        probs = logits.softmax(-1)
        ids = probs.argmax(-1)
        if self.is_token:
            lengths = word_mask.sum(1).tolist()
            return [row[:n] for row, n in zip(ids.tolist(), lengths)], probs
        return ids.tolist(), probs

    # ------------------------------------------------------------ training modes
    def set_mode(self, mode: str, training: TrainingConfig | None = None) -> None:
        """Freeze the encoder, wrap it in LoRA adapters, or leave it all trainable."""
        self.mode = mode
        if mode == "frozen":
            self.encoder.requires_grad_(False)
        elif mode == "full":
            self.encoder.requires_grad_(True)
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

    # ------------------------------------------------------------- persistence
    def save_pretrained(self, directory: str | Path) -> Path:
        from .persistence import save_classifier

        return save_classifier(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, encoder: Encoder | None = None) -> "Classifier":
        from .persistence import load_classifier

        return load_classifier(directory, encoder)

    def predict(self, texts, text_pairs=None, batch_size: int = 32):
        from .inference import predict

        return predict(self, texts, text_pairs, batch_size)
