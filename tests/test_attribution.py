"""Word attributions: offsets into the text, occlusion against a brute-force leave-one-out, integrated
gradients' completeness (Captum's delta), pairs (both texts) and entities (their own evidence)."""

import json

import pytest
import torch

from ftclf import ModelConfig, TrainingConfig, fit, predict
from ftclf.attribution import METHODS, attribute
from ftclf.cli import main as cli
from ftclf.errors import ConfigError, InputError

from .conftest import pair_examples, sentiment_examples, token_examples


@pytest.fixture(scope="module")
def sentiment(tiny_encoder_dir):
    clf, _ = fit(ModelConfig(task="sequence", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=10, learning_rate=3e-2, batch_size=16,
                                patience=0, seed=1), sentiment_examples(160))
    return clf


@pytest.fixture(scope="module", params=["cross", "concat"])
def pair(tiny_encoder_dir, request):
    clf, _ = fit(ModelConfig(task="pair", encoder=tiny_encoder_dir, max_length=32, pair_mode=request.param),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=5, batch_size=16, patience=0, seed=1),
                 pair_examples(120))
    return clf


@pytest.fixture(scope="module")
def tagger(tiny_encoder_dir):
    clf, _ = fit(ModelConfig(task="token", head="crf", encoder=tiny_encoder_dir, max_length=32),
                 TrainingConfig(mode="frozen", head_fit="adamw", epochs=8, learning_rate=3e-2, batch_size=16,
                                patience=0, seed=1), token_examples(80))
    return clf


TEXT = "The film was good, great fun and not boring."


@pytest.mark.parametrize("method", METHODS)
def test_words_point_into_the_text_and_cover_every_word(sentiment, method):
    (a,) = attribute(sentiment, [TEXT], method=method)
    assert [TEXT[w.start:w.end] for w in a.words] == [w.word for w in a.words]
    assert [w.word for w in a.words] == ["The", "film", "was", "good", ",", "great", "fun", "and", "not", "boring", "."]
    (p,) = predict(sentiment, [TEXT])
    assert a.label == p.label == a.target and a.probability == pytest.approx(p.score, abs=1e-6)


def test_occlusion_equals_a_brute_force_leave_one_out(sentiment):
    (a,) = attribute(sentiment, [TEXT], target="neg", method="occlusion")
    shown = predict(sentiment, [TEXT])[0].probabilities["neg"]
    for w in a.words:
        without = TEXT[: w.start] + TEXT[w.end:]
        assert w.score == pytest.approx(shown - predict(sentiment, [without])[0].probabilities["neg"], abs=1e-6)
    assert a.target == "neg" and a.probability == pytest.approx(shown, abs=1e-6)


def test_integrated_gradients_add_up_to_the_change_from_the_baseline(sentiment):
    (a,) = attribute(sentiment, [TEXT], method="integrated_gradients", steps=64)
    assert a.delta is not None and abs(a.delta) < 0.05 * max(1e-3, abs(sum(w.score for w in a.words)))
    assert a.method == "integrated_gradients"


def test_a_pair_is_explained_in_both_texts(pair):
    first, second = "a man plays a guitar", "a person plays music"
    for method in METHODS:
        (a,) = attribute(pair, [first], [second], method=method)
        assert [w.word for w in a.words] == first.split() and [w.word for w in a.pair_words] == second.split()
        assert all(second[w.start:w.end] == w.word for w in a.pair_words)
    (a,) = attribute(pair, [first], [second], method="occlusion")
    shown = predict(pair, [first], [second])[0].probabilities[a.target]
    w = a.pair_words[1]
    without = second[: w.start] + second[w.end:]
    assert w.score == pytest.approx(shown - predict(pair, [first], [without])[0].probabilities[a.target], abs=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_each_entity_gets_its_own_evidence(tagger, method):
    text = "the film was really john smith and mary quite a story ."
    (p,) = predict(tagger, [text])
    (a,) = attribute(tagger, [text], method=method)
    assert a.entities and [(e.label, e.start, e.end) for e in a.entities] == [(e.label, e.start, e.end) for e in p.entities]
    for entity, shown in zip(a.entities, p.entities):
        assert entity.confidence == pytest.approx(shown.score, abs=1e-5)
        assert len(entity.words) == len(a.words) and all(text[w.start:w.end] == w.word for w in entity.words)
    assert a.label is None
    for j, w in enumerate(a.words):  # the sentence's words sum every entity's scores
        assert w.score == pytest.approx(sum(e.words[j].score for e in a.entities), abs=1e-6)


def test_bad_requests_say_what_was_expected(sentiment, tagger):
    with pytest.raises(ConfigError, match="attribution method"):
        attribute(sentiment, [TEXT], method="lime")
    with pytest.raises(InputError, match="target among"):
        attribute(sentiment, [TEXT], target="maybe")
    with pytest.raises(InputError, match="some content"):
        attribute(sentiment, ["   "])
    (a,) = attribute(tagger, ["nothing here"], target="PER")
    assert all(e.label == "PER" for e in a.entities)


def test_the_command_line_explains_texts_and_adds_attributions_to_file_predictions(sentiment, tagger, tmp_path, capsys):
    head = sentiment.save_pretrained(tmp_path / "head")
    assert cli(["explain", "--model", str(head), "--text", TEXT, "--method", "occlusion"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["method"] == "occlusion" and [TEXT[w["start"]:w["end"]] for w in out["words"]] == [w["word"] for w in out["words"]]
    data = tmp_path / "rows.csv"
    data.write_text("text\ngood great film\nawful boring plot\n")
    assert cli(["predict", "--model", str(head), "--data", str(data), "--output", str(tmp_path / "p.jsonl"),
                "--attributions"]) == 0
    capsys.readouterr()
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [[w["word"] for w in line["attributions"]["words"]] for line in lines] == [["good", "great", "film"],
                                                                                     ["awful", "boring", "plot"]]
    assert all(line["attributions"]["target"] == line["label"] for line in lines)
    tagged = tagger.save_pretrained(tmp_path / "tagger")
    conll = tmp_path / "rows.conll"
    conll.write_text("the\nmovie\njohn\nsmith\n\nmary\nwas\n")
    assert cli(["predict", "--model", str(tagged), "--data", str(conll), "--output", str(tmp_path / "t.jsonl"),
                "--attributions", "occlusion"]) == 0
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [len(line["attributions"]["words"]) for line in lines] == [4, 2]
    assert all(len(e["words"]) == len(line["attributions"]["words"]) for line in lines for e in line["attributions"]["entities"])


def test_a_minimal_flip_removes_the_fewest_supporting_words_that_change_the_label(sentiment, tagger):
    from ftclf.attribution import minimal_flip

    text = "good great film but a little boring"
    (a,) = attribute(sentiment, [text])
    flip = minimal_flip(sentiment, a, text)
    assert flip.removed and all(w.score > 0 for w in flip.removed)
    if flip.label is not None:
        assert flip.label != a.label
        if flip.text.strip():
            assert predict(sentiment, [flip.text])[0].label == flip.label
        fewer = sorted(flip.removed, key=lambda w: -w.score)[:-1]  # one word fewer keeps the label
        kept = text
        for w in sorted(fewer, key=lambda w: -w.start):
            kept = kept[: w.start] + kept[w.end:]
        assert predict(sentiment, [kept])[0].label == a.label
    with pytest.raises(InputError, match="token head"):
        minimal_flip(tagger, a, text)


def test_word_scores_sum_their_pieces_and_add_up_to_the_change_from_the_baseline(sentiment):
    """A word split into several sub-tokens gets their attributions summed; [CLS] and [SEP] keep their embedding
    on the baseline, so they get none, and the words' scores add up to f(input) - f(baseline) (Captum's delta)."""
    from ftclf.attribution import _embedding_path, _forward_embeds, _owners, _per_word
    from ftclf.tokenization import collate

    text = "an unbelievably wonderful film"
    assert len(sentiment.tokenizer.tokenize("unbelievably")) > 1
    (a,) = attribute(sentiment, [text], method="integrated_gradients", steps=64)
    items = sentiment.task.encode(sentiment.tokenizer, sentiment.task.inputs([text]), sentiment.model_config, 32)
    batch = collate(items, sentiment.tokenizer.pad_token_id)
    x, baseline = _embedding_path(sentiment, batch)
    goal = sentiment.labels.index(a.target)
    t = sentiment.calibration.temperature

    def f(e):
        with torch.no_grad():
            return float((_forward_embeds(sentiment, batch, {"first": e}) / t).softmax(-1)[0, goal])

    assert sum(w.score for w in a.words) == pytest.approx(f(x) - f(baseline) + a.delta, abs=1e-4)
    owner = _owners([(0, 2), (3, 7), (7, 10), (0, 0)], [("an", 0, 2), ("unbelievably", 3, 15)])
    assert owner == [0, 1, 1, -1] and _per_word([0.5, 0.25, 0.125, 9.0], owner, 2) == [0.5, 0.375]


def test_long_inputs_stay_bounded(sentiment, tagger):
    """Words past the encoder's maximum length are cut off before the head sees them: they score 0 and cost no
    pass; a tagger explains sentences of at most MAX_TOKEN_WORDS words and says so beyond."""
    from ftclf.attribution import MAX_TOKEN_WORDS

    long_text = " ".join(["great"] * 10 + ["awful"] * 300)
    (a,) = attribute(sentiment, [long_text])
    assert a.truncated and len(a.words) == 310
    assert all(w.score == 0.0 for w in a.words[40:]) and any(w.score != 0.0 for w in a.words[:10])
    with pytest.raises(InputError, match=f"at most {MAX_TOKEN_WORDS} words"):
        attribute(tagger, [" ".join(["john"] * (MAX_TOKEN_WORDS + 1))])


@pytest.mark.parametrize("pair_mode", [None, "cross", "concat"])
def test_case_marked_heads_are_explained_word_by_word(tiny_encoder_dir, tmp_path, pair_mode):
    """With case markers, the marker tokens belong to no word: every word still gets its score, integrated
    gradients still add up, occlusion still equals leaving the word out, and the option survives a save."""
    from ftclf import Classifier

    task = "sequence" if pair_mode is None else "pair"
    data = sentiment_examples(60) if pair_mode is None else pair_examples(60)
    config = ModelConfig(task=task, encoder=tiny_encoder_dir, max_length=32, case_markers=True,
                         **({} if pair_mode is None else {"pair_mode": pair_mode}))
    clf, _ = fit(config, TrainingConfig(mode="frozen", head_fit="adamw", epochs=3, batch_size=16, patience=0, seed=1),
                 data)
    clf.save_pretrained(tmp_path / "head")
    clf = Classifier.from_pretrained(tmp_path / "head")
    assert clf.model_config.case_markers
    text, second = "The Film by Anna was GOOD", (None if pair_mode is None else "A Person met NASA")
    pairs = None if second is None else [second]
    (ig,) = attribute(clf, [text], pairs, method="integrated_gradients", steps=64)
    assert [w.word for w in ig.words] == text.split() and all(w.score != 0 for w in ig.words)
    assert abs(ig.delta) < 0.05 * max(1e-3, abs(sum(w.score for w in ig.words) + sum(w.score for w in ig.pair_words or [])))
    (occ,) = attribute(clf, [text], pairs, method="occlusion")
    w = occ.words[1]
    without = text[: w.start] + text[w.end:]
    shown = predict(clf, [text], pairs)[0].probabilities[occ.target]
    assert w.score == pytest.approx(shown - predict(clf, [without], pairs)[0].probabilities[occ.target], abs=1e-6)
