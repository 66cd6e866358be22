import pytest

from ftclf.metrics import classification_metrics, confusion_matrix, token_metrics


def test_classification_metrics_by_hand():
    # gold: a a a b b c ; pred: a a b b c c
    labels = ["a", "b", "c"]
    m = classification_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], labels)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: P=2/2 R=2/3 F=0.8 ; b: P=1/2 R=1/2 F=0.5 ; c: P=1/2 R=1 F=2/3
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert "f1_positive" not in m


def test_binary_reports_positive_class_f1():
    m = classification_metrics([1, 1, 0, 0], [1, 0, 0, 0], ["0", "1"])
    assert m["f1_positive"] == pytest.approx(2 / 3)  # P=1, R=1/2


def test_confusion_matrix_counts():
    assert confusion_matrix([0, 1, 1], [1, 1, 1], 2).tolist() == [[0, 1], [0, 2]]


def test_strict_entity_metrics_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"]]
    m = token_metrics(gold, pred)
    # Entities: gold {PER(0-1), LOC(3), ORG(s2 0)}, pred {PER(0-1), ORG(3)}; the stray I-ORG is no
    # entity under strict IOB2. Correct: 1 -> P = 1/2, R = 1/3.
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(0.4)
    assert m["per_type"]["PER"]["f1"] == 1.0 and m["per_type"]["LOC"]["f1"] == 0.0
    assert m["invalid_transition_rate"] == pytest.approx(1 / 6)
    assert m["token_accuracy"] == pytest.approx(4 / 6)


def test_evaluate_modules_work_offline():
    from ftclf.hf_metrics import ClassificationMetric, EntityMetric

    metric = ClassificationMetric(labels=["neg", "pos"])
    metric.add_batch(predictions=[0, 1], references=[0, 0])
    metric.add_batch(predictions=[1], references=[1])
    assert metric.compute() == classification_metrics([0, 0, 1], [0, 1, 1], ["neg", "pos"])
    ent = EntityMetric().compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])
    assert ent["f1"] == 1.0


def test_task_metrics_through_evaluate_match_the_hand_computed_numbers():
    """What ``ftclf.evaluate`` and the Trainer score with: the task's evaluate module, same numbers."""
    from ftclf.errors import DataError
    from ftclf.hf_metrics import task_metrics
    from ftclf.tasks import get_task

    labels = ["a", "b", "c"]
    m = task_metrics(get_task("sequence"), [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], labels)  # the case above
    assert m["accuracy"] == pytest.approx(4 / 6) and m["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m == classification_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], labels)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold, pred = [[1, 2, 0, 3], [5, 0]], [[1, 2, 0, 5], [6, 0]]  # test_strict_entity_metrics_by_hand in ids
    m = task_metrics(get_task("token"), gold, pred, tags)
    assert (m["precision"], m["recall"], m["f1"]) == (pytest.approx(0.5), pytest.approx(1 / 3), pytest.approx(0.4))
    assert m == token_metrics([[tags[i] for i in r] for r in gold], [[tags[i] for i in r] for r in pred])
    with pytest.raises(DataError, match=r"expected as many predictions as gold labels \(2\), got 1"):
        task_metrics(get_task("sequence"), [0, 1], [0], labels)
    with pytest.raises(DataError, match="expected at least one example to evaluate, got none"):
        task_metrics(get_task("sequence"), [], [], labels)
