"""Recipes for the shipped heads and their comparison variants (data, configs, seeds).

Shared by benchmarks/train_heads.py (training) and benchmarks/accuracy.py (evaluation), so both
carve exactly the same validation splits. Data come from ../shared/data (or $FTCLF_DATA).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ftclf import Example, ModelConfig, TrainingConfig  # noqa: E402
from ftclf.tasks import read_examples  # noqa: E402
from ftclf.training import prepare_data  # noqa: E402

DATA = Path(os.environ.get("FTCLF_DATA", ROOT.parent / "shared" / "data"))
#: where benchmarks/train_heads.py puts the fine-tuned teachers (recipes *-teacher-*), read by the *-distill recipes
TEACHERS = Path(os.environ.get("FTCLF_TEACHERS", ROOT / "runs" / "teachers"))
#: recipes that continue a shipped head (``init_from``) start from it as it was shipped at BASE_COMMIT, restored
#: from git into BASE_DIR by ``restore_base`` (the working tree's copy may be the continued head itself)
BASE_COMMIT = "20542a3"
BASE_DIR = ROOT / "runs" / "base"


def restore_base(path: str | None) -> None:
    """Put a shipped head of BASE_COMMIT at ``path`` (under BASE_DIR) if it is not there yet."""
    import io
    import subprocess
    import tarfile
    import tempfile

    if not path or Path(path).parent != BASE_DIR or (Path(path) / "config.json").exists():
        return
    name = Path(path).name
    archive = subprocess.run(["git", "archive", BASE_COMMIT, f"assets/heads/{name}"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    with tempfile.TemporaryDirectory(dir=ROOT / "runs") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        BASE_DIR.mkdir(parents=True, exist_ok=True)
        (Path(tmp) / "assets" / "heads" / name).rename(path)
#: the teacher encoder assembled by benchmarks/teacher.py (all-mpnet-base-v2, 110M parameters)
TEACHER = os.environ.get("FTCLF_TEACHER_ENCODER",
                         str(Path.home() / ".cache" / "ftclf" / "teachers" / "all-mpnet-base-v2" / "all-mpnet-base-v2"))

SST2_LABELS = {"0": "negative", "1": "positive"}
MRPC_LABELS = {"0": "not_paraphrase", "1": "paraphrase"}


def main_metric(task: str, recipe: str) -> str:
    """The metric a head of ``task`` trained by the recipe (or data set) ``recipe`` is selected and reported
    on: MRPC's positive-class F1 (GLUE's), else the task's own (accuracy; entity F1 for token tasks)."""
    from ftclf.tasks import get_task

    return "f1_positive" if recipe.split("-")[0].split("+")[0] == "mrpc" else get_task(task).metric


def _relabel(examples, names):
    return [Example(e.text, e.text_pair, names[e.label]) for e in examples]


def sst2(data: Path):
    return _relabel(read_examples(data / "sst2" / "train.tsv", "sequence"), SST2_LABELS), None


def mrpc(data: Path):
    return _relabel(read_examples(data / "mrpc" / "train.tsv", "pair"), MRPC_LABELS), None


def mrpc_carve(data: Path, seed: int = 42):
    """MRPC's training pairs and the 408-pair validation carve of ``seed``, exactly as training carves them."""
    from ftclf.splits import split_train_validation
    from ftclf.tasks import get_task

    train, _ = mrpc(data)
    return split_train_validation(train, 0.1, seed, 5000, get_task("pair").stratum)


def mrpc_swap(data: Path):
    """MRPC with each training pair also given in the other order (paraphrase is symmetric).

    The validation split is carved first, exactly as for plain MRPC, so no swapped twin of a
    validation pair reaches training."""
    train, val = mrpc_carve(data)
    return train + [Example(e.text_pair, e.text, e.label) for e in train], val


def mrpc_counterfactual(data: Path, **how):
    """MRPC's seed-42 carve, its training pairs joined by counterfactuals of a third of their paraphrases (a
    changed number, name or negation: ``counterfactual.py``), made from training pairs only."""
    import counterfactual

    train, val = mrpc_carve(data)
    made = counterfactual.counterfactual_pairs([(e.text, e.text_pair, e.label) for e in train], "paraphrase",
                                               "not_paraphrase", **how)
    return train + [Example(a, b, label) for a, b, label in made], val


def mrpc_contrast(data: Path):
    """mrpc_counterfactual with every kind of edit that applies to half of the paraphrases, and contrast
    copies of half of them (a name or number changed the same way in both sentences: still paraphrases)."""
    return mrpc_counterfactual(data, share=0.5, every_kind=True, contrast=0.5)


def mrpc_contrast_prior(data: Path):
    """Counterfactuals of every kind that applies to a quarter of the paraphrases and a contrast copy of every
    paraphrase that has one: MRPC's label prior kept (66 % paraphrases with them, 68 % without)."""
    return mrpc_counterfactual(data, share=0.25, every_kind=True, contrast=1.0)


def mrpc_minimal(data: Path):
    """MRPC's seed-42 carve, its training pairs joined by minimal pairs of their sentences
    (``counterfactual.minimal_pairs``: a sentence against its copy with one number, name or negation edited)."""
    import counterfactual

    train, val = mrpc_carve(data)
    sentences = list(dict.fromkeys(s for e in train for s in (e.text, e.text_pair)))
    made = counterfactual.minimal_pairs(sentences, "paraphrase", "not_paraphrase")
    return train + [Example(a, b, label) for a, b, label in made], val


def sick(data: Path):
    return read_examples(data / "sick" / "train.tsv", "pair"), read_examples(data / "sick" / "trial.tsv", "pair")


def sick_snli(data: Path):
    train, val = sick(data)
    return train + read_examples(data / "snli" / "dev.tsv", "pair"), val


def sst2_sentences(data: Path):
    """The sentence-level SST-2 split (``sst2_sentences.py``): 1,000 whole sentences held out,
    every phrase they contain dropped from training."""
    import sst2_sentences

    train, val = sst2_sentences.split(path=str(data / "sst2" / "train.tsv"))
    as_examples = lambda rows: [Example(text, None, SST2_LABELS[label]) for text, label in rows]  # noqa: E731
    return as_examples(train), as_examples(val)


def sst2_sentences_robust(data: Path, negated_copies: int = 5):
    """The sentence-level split's training phrases, its negated negatives (positive phrases whose negator scopes
    over a negative phrase, by SST's own labels) repeated ``negated_copies`` more times, and a copy of every
    whole training sentence with typos in it (``augment.typo_variants``): nothing from a held-out sentence."""
    import augment
    import sst2_sentences

    rows, val = sst2_sentences.split(path=str(data / "sst2" / "train.tsv"))
    negated = sst2_sentences.negated_negatives(rows)
    whole = sst2_sentences.whole_training_sentences(path=str(data / "sst2" / "train.tsv"))
    typos = augment.typo_variants([text for text, _ in whole])
    labels = [label for text, label in whole if augment.has_typo_spot(text)]
    rows = rows + negated * negated_copies + list(zip(typos, labels))
    as_examples = lambda rows: [Example(text, None, SST2_LABELS[label]) for text, label in rows]  # noqa: E731
    return as_examples(rows), as_examples(val)


def sst2_sentences_negation(data: Path, replay: int = 12000, copies: int = 3, seed: int = 0):
    """For continuing the shipped head: a seeded sample of the sentence-level split's training phrases (what it
    was trained on), SST's negated negatives and the counterfactual negations of its short predicates, both
    ``copies`` times (``sst2_sentences.negated_negatives`` / ``negated_predicates``): no held-out sentence."""
    import random

    import sst2_sentences

    rows, val = sst2_sentences.split(path=str(data / "sst2" / "train.tsv"))
    negated = sst2_sentences.negated_negatives(rows) + sst2_sentences.negated_predicates(rows)
    rows = random.Random(seed).sample(rows, replay) + negated * copies
    as_examples = lambda rows: [Example(text, None, SST2_LABELS[label]) for text, label in rows]  # noqa: E731
    return as_examples(rows), as_examples(val)


def sst2_sentences_lexicon(data: Path, replay: int = 24000, copies: int = 3, seed: int = 0):
    """``sst2_sentences_negation`` (24,000 phrases) plus vocabulary the movie reviews lack, from published
    lexicons (``sst2_sentences.sentiment_adjectives``, every word of the sentiment suites left out): SST's own
    short predicates with the adjective swapped for another of its polarity, or negated, and the lexicon's
    adjectives that are no SST phrase as one-word phrases, ``copies`` times."""
    import sst2_sentences

    rows, _ = sst2_sentences.split(path=str(data / "sst2" / "train.tsv"))
    adjectives = sst2_sentences.sentiment_adjectives(exclude=sst2_sentences.suite_words())
    known = dict(rows)
    extra = sst2_sentences.adjective_substitutions(rows, adjectives, per_frame=3, seed=seed)
    extra += [(word, y) for word, y in adjectives.items() if word not in known]
    train, val = sst2_sentences_negation(data, replay=replay, copies=copies, seed=seed)
    return train + [Example(text, None, SST2_LABELS[y]) for text, y in extra] * copies, val


def sst2_whole_sentences(data: Path):
    """The sentence-level split's training sentences only (no fragments): a teacher's cheaper diet."""
    import sst2_sentences

    _, val = LOADERS["sst2+sentences"](data)
    rows = sst2_sentences.whole_training_sentences(path=str(data / "sst2" / "train.tsv"))
    return [Example(text, None, SST2_LABELS[label]) for text, label in rows], val


def conll(data: Path):
    return read_examples(data / "conll2003" / "train.txt", "token"), read_examples(data / "conll2003" / "dev.txt", "token")


def mentions(examples) -> list:
    """CoNLL sentences as texts labelled with the entity types they mention (no entity: the empty set)."""
    from ftclf.tasks.multilabel import LabelSet

    return [LabelSet(" ".join(e.words), tuple(sorted({t[2:] for t in e.tags if t != "O"}))) for e in examples]


def conll_mentions(data: Path):
    """Which of PER / ORG / LOC / MISC a sentence mentions, from CoNLL-2003 train (dev: validation)."""
    train, dev = conll(data)
    return mentions(train), mentions(dev)


#: NER-head label sets of the MRPC training sentences (raw news text), made once by mentions_silver
SILVER = ROOT / "runs" / "silver" / "mentions-mrpc.jsonl"


def mentions_silver(data: Path) -> list:
    """The MRPC training sentences (raw news text, no gold entities) labelled with the entity types the shipped
    NER head finds in them: the NER head as a teacher of the mentions head (hard labels), cached in SILVER."""
    import csv
    import json

    from ftclf import Classifier, predict
    from ftclf.tasks.multilabel import LabelSet

    if not SILVER.exists():
        with open(data / "mrpc" / "train.tsv", encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        texts = list(dict.fromkeys(t.strip() for r in rows for t in (r["sentence1"], r["sentence2"]) if t.strip()))
        ner = Classifier.from_pretrained(ROOT / "assets" / "heads" / "ner-conll2003")
        found = predict(ner, texts, batch_size=64)
        SILVER.parent.mkdir(parents=True, exist_ok=True)
        SILVER.write_text("".join(json.dumps({"text": t, "labels": sorted({e.label for e in p.entities})}) + "\n"
                                  for t, p in zip(texts, found)))
    rows = [json.loads(line) for line in SILVER.read_text().splitlines()]
    return [LabelSet(r["text"], tuple(r["labels"])) for r in rows]


def conll_mentions_silver(data: Path):
    """conll_mentions, its training sentences joined by the NER head's silver label sets of MRPC's sentences."""
    train, dev = conll_mentions(data)
    return train + mentions_silver(data), dev


def snli_pairs(data: Path):
    """SNLI dev's sentence pairs without their labels (text a distilling teacher labels)."""
    return [Example(e.text, e.text_pair) for e in read_examples(data / "snli" / "dev.tsv", "pair")]


def sst2_augmented(data: Path, per_sentence: int = 3):
    """Perturbed copies of the sentence-level split's training sentences (``augment.py``; never a held-out one)."""
    import augment

    train, _ = sst2_whole_sentences(data)
    return [Example(text) for text in augment.variants([e.text for e in train], per_sentence)]


def _pair_copies(train, per_pair: int) -> list:
    """Perturbed copies of training pairs (``augment.py``), without labels."""
    import augment

    return [Example(a, b) for a, b in augment.pair_variants([(e.text, e.text_pair) for e in train], per_pair)]


def mrpc_augmented(data: Path):
    """5 copies of each training pair of MRPC's seed-42 carve, the one every seed-42 MRPC recipe validates on:
    built from training pairs only, never from a validation pair."""
    return _pair_copies(mrpc_carve(data)[0], 5)


def sick_augmented(data: Path):
    """4 copies of each of SICK's training pairs (the trial pairs are never touched)."""
    return _pair_copies(sick(data)[0], 4)


def sst2_sentences_rated(data: Path, per_word: int = 6, negated: int = 3, copies: int = 1, replay: int | None = 24000,
                         seed: int = 0):
    """``sst2_sentences_negation`` (24,000 phrases) plus English adjectives with published human ratings
    (``sst2_sentences.rated_adjectives``: VADER, AFINN, Pattern; requirements-lexicon.txt) in SST's own training
    predicates, ``per_word`` frames with the word's label and ``negated`` negated ones with the other (a word that
    is an SST training phrase of the other label is left out), ``copies`` times. ``replay=None``: every training
    phrase (for a head trained from the encoder rather than continued)."""
    import sst2_sentences

    rows, _ = sst2_sentences.split(path=str(data / "sst2" / "train.tsv"))
    known = dict(rows)
    rated = {w: y for w, y in sst2_sentences.rated_adjectives().items() if known.get(w, y) == y}  # SST's label wins
    extra = [Example(text, None, SST2_LABELS[y])
             for text, y in sst2_sentences.vocabulary_rows(rows, rated, per_word, negated, seed=seed)]
    train, val = sst2_sentences_negation(data, replay=replay or len(rows), seed=seed)
    return train + extra * copies, val


#: unlabeled text for distillation recipes (``Recipe.unlabeled``)
UNLABELED = {"snli": snli_pairs, "sst2-aug": sst2_augmented, "mrpc-aug": mrpc_augmented, "sick-aug": sick_augmented}

#: "mrpc+carve42": MRPC's seed-42 carve whatever the recipe's seed, so ``NAME@SEED`` varies only the initial
#: weights and the data order (for distilled recipes, whose teacher was trained beside that carve and saw the others)
#: data sets whose validation split is another's: only their training split adds to it (the silver label sets
#: cost minutes to make; a check of the validation figure needs none of them)
SAME_VALIDATION = {"conll+mentions+silver": "conll+mentions"}

LOADERS = {"sst2": sst2, "sst2+sentences": sst2_sentences, "sst2+sentences+robust": sst2_sentences_robust, "sst2+sentences+negation": sst2_sentences_negation, "sst2+sentences+negation24k": partial(sst2_sentences_negation, replay=24000), "sst2+sentences+lexicon": sst2_sentences_lexicon, "sst2+sentences+rated": sst2_sentences_rated, "sst2+sentences+rated3": partial(sst2_sentences_rated, copies=3),
           "sst2+sentences+rated-all": partial(sst2_sentences_rated, replay=None), "sst2+whole": sst2_whole_sentences, "mrpc": mrpc, "mrpc+carve42": mrpc_carve, "mrpc+swap": mrpc_swap, "mrpc+cf": mrpc_counterfactual, "mrpc+cf2": mrpc_contrast, "mrpc+cf3": mrpc_contrast_prior, "mrpc+minimal": mrpc_minimal, "sick": sick, "sick+snli": sick_snli, "conll": conll, "conll+mentions": conll_mentions,
           "conll+mentions+silver": conll_mentions_silver}


@dataclass
class Recipe:
    name: str
    data: str  # key of LOADERS ("base+variant" keeps the base data set's labels and metric)
    model: ModelConfig
    training: TrainingConfig
    note: str = ""
    tags: dict = field(default_factory=dict)
    #: key of UNLABELED: texts without labels that the recipe's teacher labels
    unlabeled: str | None = None

    def load(self, data_dir: Path = DATA):
        """(train, validation) exactly as training sees them (validation carved when absent)."""
        train, val = LOADERS[self.data](data_dir)
        return prepare_data(self.model.task, train, val, self.training)[:2]

    def validation(self, data_dir: Path = DATA) -> list:
        """The validation split alone, as :meth:`load` gives it, without making what only training reads."""
        train, val = LOADERS[SAME_VALIDATION.get(self.data, self.data)](data_dir)
        return prepare_data(self.model.task, train, val, self.training)[1]

    def load_unlabeled(self, data_dir: Path = DATA) -> list:
        return UNLABELED[self.unlabeled](data_dir) if self.unlabeled else []


def _r(name, data, task, mode, head="linear", note="", unlabeled=None, **kw):
    model_kw = {k: kw.pop(k) for k in list(kw) if k in ("pooling", "pair_mode", "pair_features", "word_shape", "case_markers", "max_length", "labels",
                                                      "encoder")}
    if task == "token":
        model_kw.setdefault("word_shape", False)  # the recipes name word shapes where they use them
    labels = {"sst2": ["negative", "positive"], "mrpc": ["not_paraphrase", "paraphrase"]}.get(data.split("+")[0])
    model = ModelConfig(task=task, head=head, labels=model_kw.pop("labels", labels or []), **model_kw)
    training = TrainingConfig(mode=mode, seed=42, **kw)
    return Recipe(name, data, model, training, note, unlabeled=unlabeled)


_LORA = dict(learning_rate=1e-3, lora_r=16, lora_alpha=32, patience=3)

#: the shipped MRPC recipe in 6 epochs (patience 3): the distilled student and its undistilled twin
_MRPC6 = dict(pair_mode="cross", epochs=6, batch_size=32, validation_fraction=0.1,
              **{**_LORA, "learning_rate": 5e-4, "patience": 3, "lora_r": 32, "lora_alpha": 64})

#: MRPC distilled in 3 epochs with 5 teacher-labelled perturbed copies of every training pair (each epoch 6x as long)
_MRPC3_DISTILL_AUG = {**_MRPC6, "epochs": 3, "evals_per_epoch": 2, "teacher": str(TEACHERS / "mrpc-teacher-mpnet")}

#: SICK distilled in 4 epochs with teacher-labelled unlabeled pairs (SNLI's, or perturbed copies of SICK's own)
_SICK4_DISTILL = dict(pair_mode="cross", epochs=4, batch_size=32, teacher=str(TEACHERS / "sick-teacher-mpnet"),
                      **{**_LORA, "learning_rate": 5e-4, "patience": 2, "lora_r": 32, "lora_alpha": 64})

#: SST-2 on the sentence-level split with every weight tuned (1 epoch, BERT's rate)
_SST2S_FULL = {"epochs": 1, "batch_size": 32, "evals_per_epoch": 4, "learning_rate": 5e-5,
               "note": "not shippable (a whole encoder copy): measures what the adapters leave on the table"}

RECIPES = {r.name: r for r in [
    # sentiment (SST-2): 5,000 carved validation examples
    _r("sst2-frozen-linear", "sst2", "sequence", "frozen"),
    _r("sst2-frozen-mlp", "sst2", "sequence", "frozen", "mlp"),
    _r("sst2-lora", "sst2", "sequence", "lora", epochs=3, batch_size=32, evals_per_epoch=2, **{**_LORA, "learning_rate": 5e-4}),
    # sentiment on the sentence-level split (validation: 1,000 whole held-out sentences)
    _r("sst2s-lora", "sst2+sentences", "sequence", "lora", epochs=1, batch_size=32, evals_per_epoch=4, **{**_LORA, "learning_rate": 5e-4}),
    # the shipped recipe with SST's negated negatives oversampled and typo'd copies of the training sentences
    _r("sst2s+robust-lora", "sst2+sentences+robust", "sequence", "lora", epochs=1, batch_size=32, evals_per_epoch=4,
       **{**_LORA, "learning_rate": 5e-4}),
    # the shipped head continued on a sample of its phrases, SST's negated negatives and negated short predicates
    _r("sst2s+negation-cont", "sst2+sentences+negation", "sequence", "lora", epochs=2, batch_size=32, evals_per_epoch=2,
       init_from=str(BASE_DIR / "sentiment-sst2"), **{**_LORA, "learning_rate": 1e-4, "patience": 4}),
    _r("sst2s+negation-cont-gentle", "sst2+sentences+negation24k", "sequence", "lora", epochs=1, batch_size=32,
       evals_per_epoch=4, init_from=str(BASE_DIR / "sentiment-sst2"), **{**_LORA, "learning_rate": 5e-5, "patience": 4}),
    # the gentle continuation with vocabulary from published lexicons (requirements-lexicon.txt)
    _r("sst2s+lexicon-cont-gentle", "sst2+sentences+lexicon", "sequence", "lora", epochs=1, batch_size=32,
       evals_per_epoch=4, init_from=str(BASE_DIR / "sentiment-sst2"), **{**_LORA, "learning_rate": 5e-5, "patience": 4}),
    # the gentle continuation with every adjective that published human ratings agree on (requirements-lexicon.txt)
    _r("sst2s+rated-cont-gentle", "sst2+sentences+rated", "sequence", "lora", epochs=1, batch_size=32,
       evals_per_epoch=4, init_from=str(BASE_DIR / "sentiment-sst2"), **{**_LORA, "learning_rate": 5e-5, "patience": 4}),
    _r("sst2s+rated-cont", "sst2+sentences+rated3", "sequence", "lora", epochs=1, batch_size=32,
       evals_per_epoch=4, init_from=str(BASE_DIR / "sentiment-sst2"), **{**_LORA, "learning_rate": 1e-4, "patience": 4}),
    # the shipped recipe from the encoder, on every training phrase, the negations and the rated adjectives
    _r("sst2s+rated-lora", "sst2+sentences+rated-all", "sequence", "lora", epochs=1, batch_size=32, evals_per_epoch=4,
       **{**_LORA, "learning_rate": 5e-4}),
    # every weight of the student tuned instead of adapters
    _r("sst2s-full", "sst2+sentences", "sequence", "full", **_SST2S_FULL),
    _r("sst2s-full-e3", "sst2+sentences", "sequence", "full", **{**_SST2S_FULL, "epochs": 3, "evals_per_epoch": 2}),
    _r("sst2s-full-distill-aug", "sst2+sentences", "sequence", "full", unlabeled="sst2-aug",
       teacher=str(TEACHERS / "sst2s-teacher-mpnet"), **_SST2S_FULL),
    # paraphrase (MRPC): 10% carved (408 pairs, the size of GLUE's dev split)
    _r("mrpc-frozen-linear-concat", "mrpc", "pair", "frozen", pair_mode="concat", pair_features=True, validation_fraction=0.1),
    _r("mrpc-frozen-mlp-concat", "mrpc", "pair", "frozen", "mlp", pair_mode="concat", pair_features=True, validation_fraction=0.1),
    _r("mrpc-frozen-linear-cross", "mrpc", "pair", "frozen", pair_mode="cross", validation_fraction=0.1),
    _r("mrpc-lora-cross", "mrpc", "pair", "lora", pair_mode="cross", epochs=10, batch_size=32, validation_fraction=0.1, **_LORA),
    _r("mrpc-lora-concat", "mrpc", "pair", "lora", pair_mode="concat", pair_features=True, epochs=10, batch_size=32, validation_fraction=0.1, **_LORA),
    # second round (lower rates, rank 32, cls pooling, MLP head)
    _r("mrpc-lora-cross-lr5e-4", "mrpc", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32, validation_fraction=0.1, **{**_LORA, "learning_rate": 5e-4, "patience": 4}),
    _r("mrpc-lora-cross-lr3e-4", "mrpc", "pair", "lora", pair_mode="cross", epochs=15, batch_size=32, validation_fraction=0.1, **{**_LORA, "learning_rate": 3e-4, "patience": 4}),
    _r("mrpc-lora32-cross", "mrpc", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32, validation_fraction=0.1, **{**_LORA, "learning_rate": 5e-4, "patience": 4, "lora_r": 32, "lora_alpha": 64}),
    _r("mrpc-lora-cross-cls", "mrpc", "pair", "lora", pair_mode="cross", pooling="cls", epochs=12, batch_size=32, validation_fraction=0.1, **{**_LORA, "learning_rate": 5e-4, "patience": 4}),
    _r("mrpc-lora-cross-mlp", "mrpc", "pair", "lora", "mlp", pair_mode="cross", epochs=12, batch_size=32, validation_fraction=0.1, **{**_LORA, "learning_rate": 5e-4, "patience": 4}),
    _r("mrpc+swap-lora32-cross", "mrpc+swap", "pair", "lora", pair_mode="cross", epochs=8, batch_size=32,
       **{**_LORA, "learning_rate": 5e-4, "patience": 3, "lora_r": 32, "lora_alpha": 64}),
    # the shipped recipe with counterfactual pairs (a changed number, name or negation is no paraphrase)
    _r("mrpc+cf-lora32-cross", "mrpc+cf", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32,
       **{**_LORA, "learning_rate": 5e-4, "patience": 4, "lora_r": 32, "lora_alpha": 64}),
    # more of them, and contrast pairs (the same change in both sentences keeps a paraphrase); 5 epochs: 1.9x the data
    _r("mrpc+cf2-lora32-cross", "mrpc+cf2", "pair", "lora", pair_mode="cross", epochs=5, batch_size=32,
       **{**_LORA, "learning_rate": 5e-4, "patience": 2, "lora_r": 32, "lora_alpha": 64}),
    _r("mrpc+cf2-lora32-cross-e12", "mrpc+cf2", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32,
       note="mrpc+cf2-lora32-cross trained like the shipped recipe (12 epochs, patience 4)",
       **{**_LORA, "learning_rate": 5e-4, "patience": 4, "lora_r": 32, "lora_alpha": 64}),
    # the shipped head continued on the counterfactual and contrast pairs (and MRPC's own) at a fifth of its rate
    _r("mrpc+cf2-cont", "mrpc+cf2", "pair", "lora", pair_mode="cross", epochs=3, batch_size=32, evals_per_epoch=2,
       init_from=str(BASE_DIR / "paraphrase-mrpc"), **{**_LORA, "learning_rate": 1e-4, "patience": 4}),
    _r("mrpc+cf3-cont", "mrpc+cf3", "pair", "lora", pair_mode="cross", epochs=3, batch_size=32, evals_per_epoch=2,
       init_from=str(BASE_DIR / "paraphrase-mrpc"), **{**_LORA, "learning_rate": 1e-4, "patience": 4}),
    _r("mrpc+minimal-cont", "mrpc+minimal", "pair", "lora", pair_mode="cross", epochs=3, batch_size=32, evals_per_epoch=2,
       init_from=str(BASE_DIR / "paraphrase-mrpc"), **{**_LORA, "learning_rate": 1e-4, "patience": 4}),
    _r("mrpc-full-cross", "mrpc", "pair", "full", pair_mode="cross", epochs=5, batch_size=32, validation_fraction=0.1,
       learning_rate=5e-5, patience=2, note="not shippable (a full encoder copy); measures what LoRA leaves on the table"),
    # NLI (SICK; trial is the validation split)
    _r("sick-frozen-linear-concat", "sick", "pair", "frozen", pair_mode="concat", pair_features=True),
    _r("sick-frozen-mlp-concat", "sick", "pair", "frozen", "mlp", pair_mode="concat", pair_features=True),
    _r("sick-frozen-linear-cross", "sick", "pair", "frozen", pair_mode="cross"),
    _r("sick-lora-cross", "sick", "pair", "lora", pair_mode="cross", epochs=10, batch_size=32, **_LORA),
    _r("sick-lora-concat", "sick", "pair", "lora", pair_mode="concat", pair_features=True, epochs=10, batch_size=32, **_LORA),
    _r("sick-lora-cross-lr5e-4", "sick", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32, **{**_LORA, "learning_rate": 5e-4, "patience": 4}),
    _r("sick-lora32-cross", "sick", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32, **{**_LORA, "learning_rate": 5e-4, "patience": 4, "lora_r": 32, "lora_alpha": 64}),
    _r("sick-lora-cross-mlp", "sick", "pair", "lora", "mlp", pair_mode="cross", epochs=12, batch_size=32, **{**_LORA, "learning_rate": 5e-4, "patience": 4}),
    _r("sick+snli-lora-cross", "sick+snli", "pair", "lora", pair_mode="cross", epochs=6, batch_size=32, **_LORA),
    # teachers: all-mpnet-base-v2 (12 x 768, 110M parameters) with LoRA adapters
    _r("sick-teacher-mpnet", "sick", "pair", "lora", pair_mode="cross", encoder=TEACHER, epochs=3, batch_size=32,
       **{**_LORA, "learning_rate": 5e-4, "patience": 2}),
    _r("sst2s-teacher-mpnet", "sst2+whole", "sequence", "lora", encoder=TEACHER, epochs=2, batch_size=32, evals_per_epoch=2,
       **{**_LORA, "learning_rate": 5e-4, "patience": 2}),
    _r("conll-teacher-mpnet", "conll", "token", "full", word_shape=True, encoder=TEACHER, epochs=2, batch_size=16,
       learning_rate=5e-5, patience=2),
    # MRPC: LoRA on MPNet learns slowly (71.8% accuracy after 1 epoch, the majority class is 67.6%); the whole encoder is tuned
    _r("mrpc-teacher-mpnet", "mrpc", "pair", "full", pair_mode="cross", encoder=TEACHER, epochs=3, batch_size=16,
       validation_fraction=0.1, learning_rate=3e-5, patience=2),
    # students distilled from them (soft labels at T=2, weight 0.5): the shipped recipes plus a teacher
    _r("sick-lora32-cross-distill", "sick", "pair", "lora", pair_mode="cross", epochs=12, batch_size=32,
       teacher=str(TEACHERS / "sick-teacher-mpnet"), **{**_LORA, "learning_rate": 5e-4, "patience": 4, "lora_r": 32, "lora_alpha": 64}),
    _r("sst2s-lora-distill", "sst2+sentences", "sequence", "lora", epochs=1, batch_size=32, evals_per_epoch=4,
       teacher=str(TEACHERS / "sst2s-teacher-mpnet"), **{**_LORA, "learning_rate": 5e-4}),
    # SST-2 on whole sentences only: without and with the teacher, which also labels 3 perturbed copies of each
    _r("sst2w-lora", "sst2+whole", "sequence", "lora", epochs=3, batch_size=32, **{**_LORA, "learning_rate": 5e-4}),
    _r("sst2w-lora-distill-aug", "sst2+whole", "sequence", "lora", epochs=2, batch_size=32, unlabeled="sst2-aug",
       teacher=str(TEACHERS / "sst2s-teacher-mpnet"), **{**_LORA, "learning_rate": 5e-4}),
    # the shipped recipe's phrases plus the teacher-labelled perturbed copies of their training sentences
    _r("sst2s-lora-distill-aug", "sst2+sentences", "sequence", "lora", epochs=1, batch_size=32, evals_per_epoch=4,
       unlabeled="sst2-aug", teacher=str(TEACHERS / "sst2s-teacher-mpnet"), **{**_LORA, "learning_rate": 5e-4}),
    _r("mrpc-lora32-cross-distill", "mrpc", "pair", "lora", teacher=str(TEACHERS / "mrpc-teacher-mpnet"), **_MRPC6),
    _r("mrpc-lora32-cross-e6", "mrpc", "pair", "lora", note="the distilled recipe without its teacher", **_MRPC6),
    _r("mrpc-lora32-cross-distill-aug", "mrpc", "pair", "lora", unlabeled="mrpc-aug", **_MRPC3_DISTILL_AUG),
    # the same on the same carve whatever the seed (`@SEED` repeats vary only the student's start and data order)
    _r("mrpc-lora32-cross-distill-aug-c42", "mrpc+carve42", "pair", "lora", unlabeled="mrpc-aug", **_MRPC3_DISTILL_AUG),
    _r("sick-lora32-cross-distill-snli", "sick", "pair", "lora", unlabeled="snli", **_SICK4_DISTILL),
    _r("sick-lora32-cross-distill-aug", "sick", "pair", "lora", unlabeled="sick-aug", **_SICK4_DISTILL),
    # the same SNLI-distilled student taught by a seed ensemble: the mean of two teachers' probabilities
    _r("sick-lora32-cross-distill-snli-ens", "sick", "pair", "lora", unlabeled="snli", **{**_SICK4_DISTILL, "teacher": [
        str(TEACHERS / "sick-teacher-mpnet"), str(TEACHERS / "sick-teacher-mpnet@1")]}),
    # NER (CoNLL-2003; dev is the validation split)
    _r("conll-frozen-linear", "conll", "token", "frozen"),
    _r("conll-frozen-crf", "conll", "token", "frozen", "crf"),
    _r("conll-frozen-crf-shape", "conll", "token", "frozen", "crf", word_shape=True),
    _r("conll-lora-linear-shape", "conll", "token", "lora", word_shape=True, epochs=6, batch_size=32, **_LORA),
    _r("conll-lora-crf", "conll", "token", "lora", "crf", epochs=6, batch_size=32, **_LORA),
    _r("conll-lora-crf-shape", "conll", "token", "lora", "crf", word_shape=True, epochs=6, batch_size=32, **_LORA),
    _r("conll-lora32-crf-shape", "conll", "token", "lora", "crf", word_shape=True, epochs=6, batch_size=32,
       **{**_LORA, "lora_r": 32, "lora_alpha": 64}),
    _r("conll-lora32-crf-shape-e10", "conll", "token", "lora", "crf", word_shape=True, epochs=10, batch_size=32,
       note="the shipped recipe with 10 epochs instead of 6", **{**_LORA, "lora_r": 32, "lora_alpha": 64}),
    # which entity types a sentence mentions (multi-label; CoNLL dev is the validation split)
    _r("mentions-frozen-mlp", "conll+mentions", "multilabel", "frozen", "mlp",
       labels=["LOC", "MISC", "ORG", "PER"]),
    _r("mentions-lora16", "conll+mentions", "multilabel", "lora", epochs=4, batch_size=32,
       labels=["LOC", "MISC", "ORG", "PER"], **_LORA),
    _r("mentions-lora32-max", "conll+mentions", "multilabel", "lora", epochs=6, batch_size=32, pooling="max",
       labels=["LOC", "MISC", "ORG", "PER"], **{**_LORA, "lora_r": 32, "lora_alpha": 64}),
    _r("mentions-lora16-silver", "conll+mentions+silver", "multilabel", "lora", epochs=4, batch_size=32,
       labels=["LOC", "MISC", "ORG", "PER"], note="mentions-lora16 with the NER head's label sets of MRPC's sentences",
       **_LORA),
    _r("mentions-lora16-silver-case", "conll+mentions+silver", "multilabel", "lora", epochs=4, batch_size=32,
       labels=["LOC", "MISC", "ORG", "PER"], case_markers=True,
       note="mentions-lora16-silver with a marker token before every capitalised word", **_LORA),
    _r("mentions-lora32-silver-e6", "conll+mentions+silver", "multilabel", "lora", epochs=6, batch_size=32,
       labels=["LOC", "MISC", "ORG", "PER"], note="mentions-lora16-silver with rank 32 and 6 epochs",
       **{**_LORA, "lora_r": 32, "lora_alpha": 64}),
    _r("conll-lora32-crf-shape-distill", "conll", "token", "lora", "crf", word_shape=True, epochs=6, batch_size=32,
       teacher=str(TEACHERS / "conll-teacher-mpnet"), **{**_LORA, "lora_r": 32, "lora_alpha": 64}),
]}

#: shipped head name -> the recipe it is trained with (chosen on validation metrics, see README)
SHIPPED = {
    "sentiment-sst2": "sst2s+negation-cont-gentle@1",
    "paraphrase-mrpc": "mrpc-lora32-cross",
    "nli-sick": "sick-lora32-cross",
    "ner-conll2003": "conll-lora32-crf-shape",
    "mentions-conll2003": "mentions-lora16-silver-case",
}

#: raw labels of the source files -> the label names the heads use
ALIASES = {"sst2": SST2_LABELS, "mrpc": MRPC_LABELS}


def recipe(name: str) -> Recipe:
    """A recipe by name; ``NAME@SEED`` is the same recipe with another seed (its validation carve, initial
    weights and data order: repeated carves give a mean and a spread on small validation sets)."""
    if "@" in name:
        base, seed = name.rsplit("@", 1)
        r = recipe(base)
        if r.training.teacher and r.data in ("sst2", "mrpc") and int(seed) != r.training.seed:
            # the validation carve follows the seed: the teacher, trained beside the seed-42 carve, saw these pairs
            raise ValueError(f"{name}: the teacher was trained on the seed-{r.training.seed} carve, so another seed's "
                             f"validation pairs are in its training data; train a teacher per carve instead")
        return replace(r, name=name, training=replace(r.training, seed=int(seed)))
    if name in SHIPPED:
        return replace(recipe(SHIPPED[name]), name=name)
    return RECIPES[name]
