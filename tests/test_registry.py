"""A new task and a new head are added by registering them: no edit to the trainer, the format,
the predictor or the dashboard. Both toys go through training (frozen and LoRA), saving, loading,
prediction, evaluation and the How it works numbers."""

from collections import Counter
from dataclasses import dataclass, replace

import pytest
import torch
import torch.nn.functional as F

from ftclf import Classifier, ModelConfig, TrainingConfig, evaluate, fit, predict
from ftclf.errors import DataError
from ftclf.explain import explain
from ftclf.heads import HEADS, Head, HeadSpec, HeadTrace, get_head, heads_for, register_head
from ftclf.tasks import TASKS, TaskSpec, get_task, register_task
from ftclf.tokenization import encode_texts

from .conftest import FILLER, NEGATIVE, POSITIVE, sentiment_examples

TOPICS = {"food": ["pizza", "pasta", "bread", "cheese"], "music": ["guitar", "piano", "song", "drums"],
          "sport": ["football", "tennis", "match", "goal"]}


@dataclass(frozen=True)
class Tagged:
    """A text with a set of topic labels (multi-label)."""

    text: str
    labels: tuple[str, ...] | None = None

    def texts(self):
        return (self.text,)

    def label_values(self):
        return self.labels or ()

    def relabel(self, aliases):
        return replace(self, labels=tuple(aliases.get(x, x) for x in self.labels or ()))


@dataclass
class TopicsPrediction:
    labels: list[str]
    probabilities: dict[str, float]
    truncated: bool = False


class MultiLabelTask(TaskSpec):
    """Any number of labels per text: sigmoid scores, binary cross-entropy, micro-F1."""

    name = "topics"
    title = "Topics (multi-label)"
    metric = "micro_f1"
    example_type = Tagged
    example_kind = "texts tagged with topics"
    stratum = None

    def check_training_labels(self, labels):
        if not labels:
            raise DataError("expected some topics")

    def inputs(self, texts, text_pairs=None):
        return [Tagged(t) for t in texts]

    def encode(self, tokenizer, examples, config, max_length, label2id=None):
        items = encode_texts(tokenizer, [e.text for e in examples], None, max_length)
        if label2id is not None:
            for item in items:
                labels = examples[item.source].labels
                item.label = [int(name in labels) for name in label2id]  # multi-hot
        return items

    def loss(self, logits, labels):
        return F.binary_cross_entropy_with_logits(logits, labels.float())

    def decode(self, logits, mask=None):
        probs = logits.sigmoid()
        return [[j for j, p in enumerate(row) if p > 0.5] for row in probs.tolist()], probs

    def gold_ids(self, examples, label2id):
        return [sorted(label2id[x] for x in e.labels) for e in examples]

    def label_rows(self, labels):
        return [[j for j, v in enumerate(row) if v] for row in labels.tolist()]

    def metrics(self, gold, predicted, labels):
        pairs = Counter()
        for g, p in zip(gold, predicted):
            pairs["tp"] += len(set(g) & set(p))
            pairs["fp"] += len(set(p) - set(g))
            pairs["fn"] += len(set(g) - set(p))
        f1 = 2 * pairs["tp"] / max(1, 2 * pairs["tp"] + pairs["fp"] + pairs["fn"])
        return {"micro_f1": f1, "examples": len(gold)}

    def prediction(self, example, decoded, labels, truncated):
        return TopicsPrediction([labels[i] for i in decoded.ids], dict(zip(labels, decoded.probs.tolist())), truncated)


class CosineHead(Head):
    """Scaled cosine similarity to one learned prototype per label."""

    def __init__(self, task, in_features, num_labels, scale=10.0):
        super().__init__(task)
        self.prototypes = torch.nn.Parameter(torch.randn(num_labels, in_features) * 0.1)
        self.scale = scale

    def score(self, x):
        return self.scale * F.normalize(x, dim=-1) @ F.normalize(self.prototypes, dim=-1).T

    @torch.no_grad()
    def trace(self, x):
        weight = self.scale * F.normalize(self.prototypes, dim=-1).T
        return HeadTrace(weight, F.normalize(x, dim=-1) @ weight)


@pytest.fixture
def topics(monkeypatch):
    monkeypatch.setitem(TASKS, "topics", MultiLabelTask())
    return TASKS["topics"]


@pytest.fixture
def cosine(monkeypatch):
    monkeypatch.setitem(HEADS, "cosine", HeadSpec(
        "cosine", lambda n_in, config, task: CosineHead(task, n_in, config.num_labels), "scaled cosine to prototypes"))
    return HEADS["cosine"]


def topic_examples(n=90, seed=0):
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        chosen = tuple(sorted(rng.sample(list(TOPICS), 1 + i % 2)))
        words = [rng.choice(TOPICS[t]) for t in chosen] + rng.sample(FILLER, 2)
        rng.shuffle(words)
        out.append(Tagged(" ".join(words), chosen))
    return out


@pytest.mark.parametrize("mode", ["frozen", "lora"])
def test_a_registered_multilabel_task_trains_saves_loads_and_predicts(topics, tiny_encoder_dir, tmp_path, mode):
    fast = {"frozen": dict(epochs=40, learning_rate=5e-2), "lora": dict(epochs=6, learning_rate=1e-2)}[mode]
    clf, result = fit(ModelConfig(task="topics", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode=mode, batch_size=16, patience=0, seed=1, validation_fraction=0.2, **fast),
                      topic_examples())
    assert clf.labels == ["food", "music", "sport"] and result.metric_name == "micro_f1"
    assert result.metrics["micro_f1"] >= 0.8, result.history
    loaded = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "topics"))
    pred = predict(loaded, ["pizza and a guitar song"])[0]
    assert isinstance(pred, TopicsPrediction) and set(pred.labels) == {"food", "music"}
    assert pred.probabilities == pytest.approx(predict(clf, ["pizza and a guitar song"])[0].probabilities, abs=1e-6)
    assert evaluate(loaded, topic_examples(30, seed=5))["micro_f1"] >= 0.8
    with pytest.raises(DataError, match="expected texts tagged with topics for task 'topics', got labelled texts"):
        evaluate(loaded, sentiment_examples(4))


def test_a_registered_head_is_chosen_by_name_everywhere(cosine, tiny_encoder_dir, tmp_path):
    assert "cosine" in heads_for(get_task("sequence")) and get_head("cosine") is cosine
    clf, result = fit(ModelConfig(task="sequence", head="cosine", encoder=tiny_encoder_dir, max_length=32),
                      TrainingConfig(mode="frozen", head_fit="adamw", epochs=30, learning_rate=3e-2, batch_size=16, patience=0, seed=3), sentiment_examples(80))
    assert isinstance(clf.head, CosineHead) and result.metrics["accuracy"] >= 0.9
    loaded = Classifier.from_pretrained(clf.save_pretrained(tmp_path / "cosine"))
    text = " ".join(POSITIVE[:2])
    assert predict(loaded, [text])[0].probabilities == predict(clf, [text])[0].probabilities
    numbers = explain(loaded, text)
    assert numbers.head == "cosine" and numbers.argmax == "pos" and numbers.weight_shape == [64, 2]
    assert predict(loaded, [" ".join(NEGATIVE[:2])])[0].label == "neg"


def test_registration_is_what_the_configs_check(topics, cosine):
    assert ModelConfig(task="topics", head="cosine").head == "cosine"
    del TASKS["topics"]
    with pytest.raises(ValueError, match="expected task to be one of sequence, pair, token, multilabel, got 'topics'"):
        ModelConfig(task="topics")
    register_task(topics)
    register_head(cosine)
    assert ModelConfig(task="topics").task_spec is topics


class ScoreOnlyHead(Head):
    """The minimum the README asks of a head: ``score`` alone (no ``trace``)."""

    def __init__(self, task, in_features, num_labels):
        super().__init__(task)
        self.a = torch.nn.Linear(in_features, 8)
        self.b = torch.nn.Linear(8, num_labels)

    def score(self, x):
        return self.b(torch.tanh(self.a(x)))


@pytest.mark.parametrize("task,labels,text", [("sequence", ["neg", "pos"], "a lovely film"),
                                              ("token", ["O", "B-PER", "I-PER"], "john smith was here")])
def test_a_head_with_only_score_works_in_the_how_it_works_numbers(monkeypatch, tiny_encoder, task, labels, text):
    from types import SimpleNamespace

    from ftclf.ui import explain_tab

    monkeypatch.setitem(HEADS, "scorer", HeadSpec(
        "scorer", lambda n_in, config, task: ScoreOnlyHead(task, n_in, config.num_labels), "tanh MLP, score() only"))
    torch.manual_seed(0)
    clf = Classifier(ModelConfig(task=task, head="scorer", labels=labels, encoder="tiny"), tiny_encoder).eval()
    numbers = explain(clf, text)
    [pred] = predict(clf, [text])
    # oracle: the default trace's scores are the head's own, so explain's softmax is what prediction reports
    probs = [w.probabilities for w in pred.words] if task == "token" else [list(pred.probabilities.values())]
    assert torch.allclose(torch.tensor(numbers.probs).reshape(len(probs), -1), torch.tensor(probs), atol=1e-5)
    assert numbers.weight_shape is None and numbers.hidden is None
    monkeypatch.setattr(explain_tab, "store", lambda: SimpleNamespace(get=lambda name: clf))
    shown = explain_tab.run_explain("scorer", text, "")[0]
    assert "score(h" in shown and "h·W + b with W" not in shown
