"""The validation figure of a distilled recipe's teacher ensemble: each member alone, and the mean of
their probabilities (what the student learns from), on the recipe's own validation split.

    python benchmarks/ensemble_teacher.py sick-lora32-cross-distill-snli-ens

Token tasks take each word's most probable tag under the mean distribution (no Viterbi pass).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="a heads_recipe name whose teacher is a list of trained teacher directories")
    args = parser.parse_args()

    from ftclf.training import distill

    r = heads_recipe.recipe(args.recipe)
    _, val = r.load()
    members = [distill.load_teacher(ref) for ref in r.training.teachers]
    labels = members[0].labels
    val = [e.relabel(members[0].model_config.label_aliases) for e in val] if members[0].model_config.label_aliases else val
    task = members[0].task
    gold = task.gold_ids(val, members[0].model_config.label2id)
    rows, t0 = {}, time.perf_counter()
    for name, teacher in [*((Path(ref).name, m) for ref, m in zip(r.training.teachers, members)), ("mean", members)]:
        probs = distill.teacher_probabilities(teacher, val, labels)
        metrics = task.metrics(gold, [p.argmax(-1).tolist() for p in probs], labels)
        rows[name] = round(100 * metrics[task.metric], 2)
        print(f"{name:40s} {task.metric} {rows[name]:.2f}", flush=True)
    print(json.dumps({"recipe": args.recipe, "validation_examples": len(val), task.metric: rows,
                      "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
