"""The README.md model card written next to every saved classifier."""

from __future__ import annotations

from .format import Metadata


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


#: The hub's pipeline tag of each built-in task (hub search and widgets read it).
PIPELINE_TAGS = {"sequence": "text-classification", "pair": "text-classification", "token": "token-classification"}


def model_card(meta: Metadata, repo_id: str | None = None) -> str:
    """The card of a saved head; with ``repo_id``, the card of its hub repository (usage by id)."""
    model, metrics, data, training = meta.model, meta.metrics, meta.data, meta.training
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))]
    table = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in rows) or "| (none recorded) | |"
    task = model.task_spec
    pair = f", pair mode `{model.pair_mode}`" if task.text_pairs else ""
    trained = (f"{training.recipe or training.mode} (seed {training.seed})" if training else "not recorded")
    where = repo_id or "path/to/this/directory"
    unlabeled = (f", and {data['unlabeled_examples']:,} unlabeled ones labelled by the teacher"
                 if data.get("unlabeled_examples") else "")
    pipeline = f"\npipeline_tag: {PIPELINE_TAGS[model.task]}" if model.task in PIPELINE_TAGS else ""
    return f"""---
library_name: ftclf
base_model: {meta.encoder.name}{pipeline}
tags: [ftclf, {model.task}-classification, {meta.mode}]
---
# ftclf classifier: {model.task} / {model.head} head

- Task: **{model.task}** ({task.title}), labels: {', '.join(f'`{label}`' for label in model.labels)}
- Head: `{model.head}`, pooling `{model.pooling}`{pair}, training mode `{meta.mode}`
- Encoder: `{meta.encoder.name}` (weights fingerprint `{meta.encoder.fingerprint}`), max length {model.max_length}
- Trainable parameters: {meta.parameters.get('trainable', 0):,} of {meta.parameters.get('total', 0):,}
- Training data: {data.get('train', 'not recorded')} ({data.get('train_examples', '?')} examples{unlabeled})
- Training: {trained}
- Metrics measured on: {data.get('validation', 'not recorded')}

## Validation metrics
| metric | value |
|---|---|
{table}

## Usage
```python
from ftclf import Classifier, predict
clf = Classifier.from_pretrained("{where}")
{task.usage}
```
or `ftclf predict --model {where} --text "…"` (`pip install ftclf` from its repository).
Files: `config.json` (everything above), `head.safetensors` (head weights), `adapter/` (LoRA),
`encoder/` (mode `full` only). No pickle anywhere.
"""
