"""The README.md model card written next to every saved classifier."""

from __future__ import annotations

from .format import Metadata


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)




def _calibration(meta: Metadata) -> str:
    cal = meta.calibration
    if cal is None:
        return "\nProbabilities: plain softmax, not calibrated (`ftclf calibrate` fits them to validation data).\n"
    before, after = cal.metrics.get("before", {}), cal.metrics.get("after", {})
    rows = "\n".join(f"| {k} | {_fmt(before.get(k, ''))} | {_fmt(after[k])} |"
                     for k in ("ece", "entity_ece", "nll", "brier") if k in after)
    threshold = (f" Operating point: `{meta.model.labels[1]}` when its probability is at least {cal.threshold:.3f}."
                 if cal.threshold is not None else "")
    return f"""
## Calibration
Probabilities are calibrated on {cal.fitted_on or 'validation data'}: {cal.summary()}.{threshold}

| measure | uncalibrated | calibrated (cross-fitted) |
|---|---|---|
{rows}
"""


def model_card(meta: Metadata, repo_id: str | None = None) -> str:
    """The card of a saved head; with ``repo_id``, the card of its hub repository (usage by id)."""
    model, metrics, data, training = meta.model, meta.metrics, meta.data, meta.training
    rows = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))]
    table = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in rows) or "| (none recorded) | |"
    task = model.task_spec
    pair = f", pair mode `{model.pair_mode}`" if "pair_mode" in task.options else ""
    trained = (f"{training.recipe or training.mode} (seed {training.seed})" if training else "not recorded")
    where = repo_id or "path/to/this/directory"
    unlabeled = (f", and {data['unlabeled_examples']:,} unlabeled ones labelled by the teacher"
                 if data.get("unlabeled_examples") else "")
    pipeline = f"\npipeline_tag: {task.pipeline_tag}" if task.pipeline_tag else ""
    tags = ", ".join(["ftclf", f"{model.task}-classification", *task.hub_tags, meta.mode])
    calibration = _calibration(meta)
    return f"""---
library_name: ftclf
base_model: {meta.encoder.name}{pipeline}
tags: [{tags}]
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
{calibration}
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
