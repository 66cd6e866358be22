"""The README.md model card written next to every saved classifier."""

from __future__ import annotations

from .format import Metadata


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(meta: Metadata) -> str:
    model, metrics, data, training = meta.model, meta.metrics, meta.data, meta.training
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))]
    table = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in rows) or "| (none recorded) | |"
    task = model.task_spec
    pair = f", pair mode `{model.pair_mode}`" if task.text_pairs else ""
    trained = (f"{training.recipe or training.mode} (seed {training.seed})" if training else "not recorded")
    return f"""---
library_name: ftclf
base_model: {meta.encoder.name}
tags: [ftclf, {model.task}-classification]
---
# ftclf classifier: {model.task} / {model.head} head

- Task: **{model.task}** ({task.title}), labels: {', '.join(f'`{label}`' for label in model.labels)}
- Head: `{model.head}`, pooling `{model.pooling}`{pair}, training mode `{meta.mode}`
- Encoder: `{meta.encoder.name}` (weights fingerprint `{meta.encoder.fingerprint}`), max length {model.max_length}
- Trainable parameters: {meta.parameters.get('trainable', 0):,} of {meta.parameters.get('total', 0):,}
- Training data: {data.get('train', 'not recorded')} ({data.get('train_examples', '?')} examples)
- Training: {trained}
- Metrics measured on: {data.get('validation', 'not recorded')}

## Validation metrics
| metric | value |
|---|---|
{table}

## Usage
```python
from ftclf import Classifier, predict
clf = Classifier.from_pretrained("path/to/this/directory")
{task.usage}
```
Files: `config.json` (everything above), `head.safetensors` (head weights), `adapter/` (LoRA),
`encoder/` (mode `full` only). No pickle anywhere.
"""
