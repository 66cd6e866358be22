"""The README.md model card written next to every saved classifier."""

from __future__ import annotations


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(meta: dict) -> str:
    model, metrics, data = meta["model"], meta.get("metrics") or {}, meta.get("data") or {}
    training = meta.get("training") or {}
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))]
    table = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in rows) or "| (none recorded) | |"
    pair = f", pair mode `{model['pair_mode']}`" if model["task"] == "pair" else ""
    example = {
        "sequence": 'clf.predict(["a gripping, beautifully acted film"])',
        "pair": 'clf.predict(["A man is playing a guitar."], ["A person plays music."])',
        "token": 'clf.predict(["Angela Merkel visited Paris on Monday."])',
    }[model["task"]]
    return f"""---
library_name: ftclf
base_model: {meta['encoder']['name']}
tags: [ftclf, {model['task']}-classification]
---
# ftclf classifier: {model['task']} / {model['head']} head

- Task: **{model['task']}**, labels: {', '.join(f'`{label}`' for label in model['labels'])}
- Head: `{model['head']}`, pooling `{model['pooling']}`{pair}, training mode `{meta['mode']}`
- Encoder: `{meta['encoder']['name']}` (weights fingerprint `{meta['encoder']['fingerprint']}`), max length {model['max_length']}
- Trainable parameters: {meta['parameters']['trainable']:,} of {meta['parameters']['total']:,}
- Training data: {data.get('train', 'not recorded')} ({data.get('train_examples', '?')} examples), validation: {data.get('validation', 'not recorded')} ({data.get('validation_examples', '?')} examples)
- Training: {training.get('epochs', '?')} epochs max, learning rate {training.get('learning_rate', '?')}, batch size {training.get('batch_size', '?')}, seed {training.get('seed', '?')}

## Validation metrics
| metric | value |
|---|---|
{table}

## Usage
```python
from ftclf import Classifier
clf = Classifier.from_pretrained("path/to/this/directory")
{example}
```
Files: `config.json` (everything above), `head.safetensors` (head weights), `adapter/` (LoRA),
`encoder/` (mode `full` only). No pickle anywhere.
"""
