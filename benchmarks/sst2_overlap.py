"""SST-2 validation overlap check: the carved validation split shares phrases with training.

SST-2 "train" holds every phrase of its training sentences, so most carved validation phrases occur
verbatim inside a training phrase. This prints each SST-2 head's accuracy on the whole carved split
and on the subset of validation phrases found in no training phrase (a fairer, harder figure).

    python benchmarks/sst2_overlap.py [HEAD_DIR ...]      # default: the shipped sentiment-sst2 head
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import heads_recipe


def main() -> int:
    from ftclf import Classifier
    from ftclf.evaluation import evaluate

    train, val = heads_recipe.recipe("sentiment-sst2").load()
    corpus = "\n".join(f" {e.text.strip()} " for e in train)
    unseen = [e for e in val if f" {e.text.strip()} " not in corpus]
    print(f"| head | carved validation ({len(val)}) | unseen-phrase subset ({len(unseen)}) |")
    print("|---|---|---|")
    for path in sys.argv[1:] or [str(heads_recipe.ROOT / "assets" / "heads" / "sentiment-sst2")]:
        clf = Classifier.from_pretrained(path)
        whole, fresh = evaluate(clf, val)["accuracy"], evaluate(clf, unseen)["accuracy"]
        print(f"| {Path(path).name} | {100 * whole:.2f} | {100 * fresh:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
