"""The Predictor: batching does not change answers, long sentences are tagged in stitched windows,
entity spans are read off the tags, and bad inputs are explained."""

import pytest
import torch

from ftclf import Classifier, ModelConfig, Predictor, predict
from ftclf.encoders import load_encoder
from ftclf.errors import FtclfError, InputError
from ftclf.inference import predict_heads, run_heads
from ftclf.predictions import Decoded
from ftclf.tasks import get_task

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def untrained(tiny_encoder, task, **kw):
    torch.manual_seed(0)
    labels = TAGS if task == "token" else ["a", "b", "c"]
    return Classifier(ModelConfig(task=task, labels=labels, encoder="tiny", **kw), tiny_encoder).eval()


@pytest.mark.parametrize("task,kw", [("sequence", {}), ("pair", {"pair_mode": "cross"}), ("pair", {"pair_mode": "concat"})])
def test_batching_and_order_do_not_change_predictions(tiny_encoder, task, kw):
    clf = untrained(tiny_encoder, task, **kw)
    texts = ["a", "the movie was really quite good", "bad", "a very long text " * 3]
    pairs = ["x y", "z", "one two three four", "w"] if task == "pair" else None
    together = Predictor(clf, batch_size=32).predict(texts, pairs)
    for i, text in enumerate(texts):  # one at a time: no padding at all
        alone = predict(clf, [text], [pairs[i]] if pairs else None)[0]
        assert together[i].label == alone.label
        assert list(together[i].probabilities.values()) == pytest.approx(list(alone.probabilities.values()), abs=1e-5)
    assert [p.label for p in Predictor(clf, batch_size=1).predict(texts, pairs)] == [p.label for p in together]


def test_long_sentences_are_windowed_and_stitched_back(tiny_encoder):
    clf = untrained(tiny_encoder, "token", head="linear", max_length=12)
    words = [f"w{i}" for i in range(30)]  # several windows of whole words
    [pred] = predict(clf, [" ".join(words)])
    assert pred.windowed and [w.word for w in pred.words] == words
    # Oracle: each window tagged on its own gives the same tags as the stitched prediction.
    items = clf.task.encode(clf.tokenizer, clf.task.inputs([" ".join(words)]), clf.model_config, clf.max_length)
    assert len(items) > 1
    for item, decoded in zip(items, Predictor(clf).run(items)):
        window = pred.words[item.word_offset : item.word_offset + len(item.word_index)]
        assert [w.label for w in window] == [TAGS[i] for i in decoded.ids]
        assert torch.allclose(torch.tensor([w.probabilities for w in window]), decoded.probs, atol=1e-6)


def test_entity_spans_by_hand():
    task = get_task("token")
    [sentence] = task.inputs(["Angela Merkel visited New York"])
    ids = [1, 2, 0, 3, 4]  # B-PER I-PER O B-LOC I-LOC
    probs = torch.full((5, 5), 0.1)
    probs[torch.arange(5), torch.tensor(ids)] = torch.tensor([0.9, 0.7, 0.8, 0.6, 0.4])
    pred = task.prediction(sentence, Decoded(ids, probs), TAGS, truncated=False)
    assert [(e.label, e.text, e.start, e.end) for e in pred.entities] == [("PER", "Angela Merkel", 0, 13),
                                                                          ("LOC", "New York", 22, 30)]
    assert [e.score for e in pred.entities] == pytest.approx([0.8, 0.5])  # mean of the words' tag probabilities
    assert [(w.word, w.start, w.end) for w in pred.words][2] == ("visited", 14, 21)


def test_truncated_inputs_are_flagged(tiny_encoder):
    clf = untrained(tiny_encoder, "sequence", max_length=16)
    short, long = predict(clf, ["short", "word " * 100])
    assert not short.truncated and long.truncated


@pytest.mark.parametrize("task,texts,pairs,message", [
    ("sequence", ["fine", "  "], None, "empty, whitespace-only or control-character-only string at position 1 of texts"),
    ("sequence", [], None, "expected a non-empty list of strings as texts"),
    ("sequence", ["a", 3], None, "expected a string at position 1 of texts, got int"),
    ("sequence", ["a"], ["b"], "expected no text_pairs for a sequence head"),
    ("pair", ["a"], None, "expected text_pairs for a pair head"),
    ("pair", ["a", "b"], ["c"], r"expected as many text_pairs as texts \(2\), got 1"),
    ("token", ["a"], ["b"], "expected no text_pairs for a token head"),
])
def test_bad_inputs_are_explained(tiny_encoder, task, texts, pairs, message):
    with pytest.raises(InputError, match=message):
        predict(untrained(tiny_encoder, task), texts, pairs)


def test_run_heads_refuses_heads_that_do_not_share_their_encoding(tiny_encoder, tiny_encoder_dir):
    """A real check (an ``assert`` would vanish under ``python -O`` and mix two encoders' outputs)."""
    a = untrained(tiny_encoder, "sequence")
    b = untrained(load_encoder(tiny_encoder_dir), "sequence")  # an equal but separate encoder: another pass
    items = a.task.encode(a.tokenizer, a.task.inputs(["good film"]), a.model_config, a.max_length)
    with pytest.raises(FtclfError, match=r"expected heads that share the first one's encoding .* found heads \[1\] "
                       r"that do not; call predict_heads"):
        run_heads([a, b], items)
    with pytest.raises(FtclfError, match="expected at least one classifier, got none"):
        run_heads([], items)
    # predict_heads groups them instead, and each head answers as it does alone
    together = predict_heads([a, b], ["good film"])
    assert [together[0][0].probabilities, together[1][0].probabilities] == [
        predict(a, ["good film"])[0].probabilities, predict(b, ["good film"])[0].probabilities]
