"""Does a sentiment head know English adjectives outside film reviews? Two word sets, in frames no recipe trains on.

Each adjective is put into three sentences ("I found it X.", "Everything about the place was X.", "The new one
is X."); a head passes a frame when its top label is the word's label:

* **rated**: the adjectives published human ratings agree on (``sst2_sentences.rated_adjectives``; VADER,
  AFINN, Pattern), labelled by those ratings: the words the ``sst2s+rated-*`` recipes train on in SST's
  predicates (what a head was shown);
* **unrated**: the commonest adjectives of English (``sst2_sentences.common_adjectives``, Zipf >= 3) that no
  lexicon rates, where the MPNet teacher (``sst2s-teacher-mpnet``, trained on SST's sentences) is sure in all
  three frames (P(positive) >= 0.9 or <= 0.1), labelled by the teacher: words no recipe's data holds, so what a
  head has generalised rather than been shown.

    python benchmarks/vocabulary.py assets/heads/sentiment-sst2 runs/cf/sst2s+rated-cont-gentle [--teacher DIR]

Prints a table (pass rate per head, word set and label) and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

FRAMES = ("I found it {}.", "Everything about the place was {}.", "The new one is {}.")


def positive(clf, words: list[str]) -> list[list[float]]:
    """P(positive) of each word in each frame."""
    from ftclf import predict

    texts = [frame.format(w) for w in words for frame in FRAMES]
    probs = [p.probabilities["positive"] for p in predict(clf, texts, batch_size=128)]
    return [probs[i * len(FRAMES):(i + 1) * len(FRAMES)] for i in range(len(words))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("heads", nargs="+", help="head directories (e.g. assets/heads/sentiment-sst2 and a candidate)")
    parser.add_argument("--teacher", default=None, help="the teacher head (default: TEACHERS/sst2s-teacher-mpnet)")
    args = parser.parse_args()

    import heads_recipe
    import sst2_sentences

    from ftclf.model import Classifier

    rated = {w: y == "1" for w, y in sst2_sentences.rated_adjectives().items()}
    unrated = [w for w in sst2_sentences.common_adjectives(3.0) if w not in rated]
    teacher = Classifier.from_pretrained(args.teacher or heads_recipe.TEACHERS / "sst2s-teacher-mpnet")
    sure = {w: all(p >= 0.9 for p in ps) for w, ps in zip(unrated, positive(teacher, unrated))
            if all(p >= 0.9 for p in ps) or all(p <= 0.1 for p in ps)}
    sets = {"rated": rated, "unrated": sure}
    out = {"frames": FRAMES, "words": {k: {"positive": sum(v.values()), "negative": len(v) - sum(v.values())}
                                       for k, v in sets.items()}, "heads": {}}
    print(f"pass rate by word set (each word in {len(FRAMES)} frames): rated by people / unrated, the teacher's label")
    print("| head | rated: positive | rated: negative | unrated: positive | unrated: negative |\n|---|---|---|---|---|")
    for head in args.heads:
        clf = Classifier.from_pretrained(head)
        row = {}
        for name, labels in sets.items():
            agree = {True: [], False: []}
            for w, ps in zip(labels, positive(clf, list(labels))):
                agree[labels[w]] += [(p >= 0.5) == labels[w] for p in ps]
            row[name] = {"positive": sum(agree[True]) / max(len(agree[True]), 1),
                         "negative": sum(agree[False]) / max(len(agree[False]), 1)}
        out["heads"][head] = row
        print(f"| {head} | " + " | ".join(f"{row[n][s]:.1%}" for n in sets for s in ("positive", "negative")) + " |")
    print(f"(words: {out['words']})")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
