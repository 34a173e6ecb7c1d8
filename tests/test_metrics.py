"""Metrics against hand-computed values (the arithmetic is written next to each case)."""

import math

import pytest

from rembert_jax.train.metrics import (
    accuracy,
    compute_metrics,
    entity_scores,
    entity_spans,
    macro_f1,
    matthews_corrcoef,
    normalize_answer,
    pearson,
    spearman,
    squad_exact_match,
    squad_f1,
)

PRED, REF = [0, 1, 2, 2], [0, 2, 2, 1]


def test_accuracy():
    assert accuracy(PRED, REF) == 0.5


def test_macro_f1_averages_per_class_f1():
    # class 0: tp 1 -> F1 1; class 1: tp 0 -> 0; class 2: tp 1, fp 1, fn 1 -> 2/4. Mean 1.5/3.
    assert macro_f1(PRED, REF) == pytest.approx(0.5)
    # with num_labels=4 the absent class 3 counts as 0: 1.5/4
    assert macro_f1(PRED, REF, num_labels=4) == pytest.approx(0.375)


def test_matthews_binary_and_multiclass():
    # TP 2, FP 1, TN 2, FN 0: (2*2 - 1*0) / sqrt(3*2*3*2) = 4/6
    assert matthews_corrcoef([1, 1, 0, 0, 1], [1, 0, 0, 0, 1]) == pytest.approx(2 / 3)
    # R_K: trace c=2, s=4, t=p=[1,1,2]: (2*4 - 6) / sqrt((16-6)*(16-6)) = 0.2
    assert matthews_corrcoef(PRED, REF) == pytest.approx(0.2)
    assert matthews_corrcoef([1, 1, 1], [0, 1, 1]) == 0.0  # constant prediction: undefined -> 0


def test_pearson_and_spearman():
    # dx=[-1.5,-.5,.5,1.5], dy=[-3,-1,0,4]: 11 / sqrt(5 * 26)
    assert pearson([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / math.sqrt(130))
    assert spearman([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(1.0)
    # ties take the average rank: ranks [1, 2.5, 2.5, 4] vs [1, 3, 2, 4] -> 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(ValueError, match=r"predictions \(3,\) and references \(2,\) must both be \[N\]"):
        accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no predictions"):
        accuracy([], [])


@pytest.mark.parametrize("tags, spans", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),  # B- always opens a new entity
    (["O", "I-PER", "I-PER", "B-PER", "I-LOC"], [("PER", 1, 2), ("PER", 3, 3), ("LOC", 4, 4)]),
    (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),  # a type change opens a new entity
    (["S-PER", "B-LOC", "E-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)]),  # IOBES
    (["O", "O"], []),
])
def test_entity_spans_follow_the_conlleval_rules(tags, spans):
    assert entity_spans(tags) == spans


def test_entity_scores_count_exact_type_and_boundary_matches():
    references = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predictions = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    # gold {PER 0-1, LOC 3, ORG 0'}, predicted {PER 0-1, ORG 3, ORG 0'}: 2 of 3 either way; tokens 5/6
    scores = entity_scores(predictions, references)
    assert scores == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "accuracy": 5 / 6})
    # a boundary error is a miss: predicted {PER 0}, gold {PER 0-1, LOC 3}: P 0/1, R 0/2
    scores = entity_scores([["B-PER", "O", "O", "O"]], [references[0]])
    assert scores["precision"] == 0.0 and scores["recall"] == 0.0 and scores["f1"] == 0.0
    # P 1/1, R 1/2 -> F1 2/3
    scores = entity_scores([["B-PER", "I-PER", "O", "O"]], [references[0]])
    assert scores["precision"] == 1.0 and scores["recall"] == 0.5 and scores["f1"] == pytest.approx(2 / 3)


def test_entity_scores_reject_sequences_of_different_lengths():
    with pytest.raises(ValueError, match="sequence 0: 1 predicted tags but 2 reference tags"):
        entity_scores([["O"]], [["O", "O"]])


def test_squad_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("The  Cat's, hat!") == "cats hat"
    assert normalize_answer("an apple a day") == "apple day"


def test_squad_exact_match_and_f1():
    assert squad_exact_match("the cat", ["Cat", "dog"]) == 1.0
    assert squad_exact_match("cat sat", ["Cat"]) == 0.0
    # pred [big, cat, sat] vs gold [cat, sat, down]: 2 common -> P = R = 2/3
    assert squad_f1("the big cat sat", ["a cat sat down"]) == pytest.approx(2 / 3)
    assert squad_f1("the big cat sat", ["a cat sat down", "big cat sat"]) == 1.0  # best gold counts
    # SQuAD v2: no gold answer -> only the empty prediction scores
    assert squad_f1("", []) == 1.0 and squad_f1("x", []) == 0.0 and squad_exact_match("", []) == 1.0


def test_compute_metrics_per_task():
    assert compute_metrics("sequence_classification", PRED, REF) == pytest.approx(
        {"accuracy": 0.5, "macro_f1": 0.5, "matthews_corrcoef": 0.2})
    regression = compute_metrics("sequence_classification", [1, 2, 3, 4], [2, 4, 5, 9], num_labels=1)
    assert regression["mse"] == pytest.approx((1 + 4 + 4 + 25) / 4) and regression["spearman"] == pytest.approx(1)
    qa = compute_metrics("question_answering", {"a": "the cat", "b": "dog"}, {"a": ["Cat"], "b": ["a cat sat"]})
    assert qa == {"exact_match": 0.5, "f1": 0.5}
    assert compute_metrics("masked_lm", math.log(4.0), None) == pytest.approx({"loss": math.log(4.0), "perplexity": 4.0})
    with pytest.raises(ValueError, match=r"no prediction for 1 question\(s\), e\.g\. id 'b'"):
        compute_metrics("question_answering", {"a": "x"}, {"a": ["x"], "b": ["y"]})
    with pytest.raises(ValueError, match=r"task is 'nope'"):
        compute_metrics("nope", [], [])
