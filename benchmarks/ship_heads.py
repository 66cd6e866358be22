"""Put trained recipe outputs into assets/heads under their shipped names, re-measured on the CPU.

    python benchmarks/ship_heads.py --from runs/heads [--to assets/heads]

For each shipped head (heads_recipe.SHIPPED) this loads SRC/RECIPE onto the exact embedded
encoder, sets the label aliases of its source data, re-measures the validation metrics on the
recipe's validation split, records the metric on a fixed slice (the first SLICE validation
examples, which CI reproduces), and saves DEST/NAME atomically with its model card.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe

SLICE = 200


def main_metric(task: str, data: str) -> str:
    from ftclf.tasks import get_task

    return "f1_positive" if data == "mrpc" else get_task(task).metric


def ship(name: str, src: Path, dest: Path) -> dict:
    from ftclf import Classifier
    from ftclf.evaluation import evaluate

    recipe = heads_recipe.recipe(name)
    source = src / heads_recipe.SHIPPED[name]
    trained = json.loads((source / "config.json").read_text())
    clf = Classifier.from_pretrained(source)
    dataset = recipe.data.split("+")[0]
    clf.model_config.label_aliases = dict(heads_recipe.ALIASES.get(dataset, {}))
    _, val = recipe.load()
    t0 = time.perf_counter()
    metrics = evaluate(clf, val)
    seconds = time.perf_counter() - t0
    metric = main_metric(recipe.model.task, dataset)
    sliced = evaluate(clf, val[:SLICE])
    clf.metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    clf.metrics.update({
        "main_metric": metric,
        "slice_examples": SLICE,
        "slice_value": sliced[metric],
        "train_seconds": trained["metrics"].get("train_seconds"),
        "trained_on_device_metric": trained["metrics"].get(metric),
    })
    clf.data_info = {**clf.data_info, "recipe": heads_recipe.SHIPPED[name], "validation_examples": len(val)}
    cfg = clf.training_config
    if cfg is not None and cfg.teacher:  # paths on the training machine: name the teachers' recipes instead
        portable = []
        for path in cfg.teachers:
            name_seed = Path(path).name
            teacher = heads_recipe.recipe(name_seed) if name_seed.split("@")[0] in heads_recipe.RECIPES else None
            how = {"lora": "LoRA", "full": "every weight tuned"}.get(teacher.training.mode, teacher.training.mode) if teacher else "not a recipe"
            portable.append(f"{name_seed} (benchmarks/heads_recipe.py recipe, all-mpnet-base-v2, {how})")
            cfg.recipe = cfg.recipe.replace(path, portable[-1])
        cfg.teacher = portable if len(portable) > 1 else portable[0]
    clf.save_pretrained(dest / name)
    return {"name": name, "metric": metric, "value": metrics[metric], "slice": sliced[metric],
            "device_value": trained["metrics"].get(metric), "eval_seconds": round(seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="src", required=True)
    parser.add_argument("--to", dest="dest", default=str(heads_recipe.ROOT / "assets" / "heads"))
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    for name in args.names or heads_recipe.SHIPPED:
        print(json.dumps(ship(name, Path(args.src), Path(args.dest))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
