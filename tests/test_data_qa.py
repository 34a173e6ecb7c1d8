"""Extractive QA: context windows with doc stride, answer span -> tokens, and logits -> answer text."""

import numpy as np
import pytest
from data_fixtures import reference_tokenizer, write_jsonl

from rembert_jax.train.data import load_task_dataset
from rembert_jax.train.data.qa import answer_token_span
from rembert_jax.train.qa_postprocess import postprocess_qa_predictions

CONTEXT = "Paris is the capital of France."
# [CLS] q q [SEP] Paris is the capital of France . [SEP]  (positions 0..10); None outside the context
OFFSETS = [None, None, None, None, (0, 5), (6, 8), (9, 12), (13, 20), (21, 23), (24, 30), (30, 31), None]


@pytest.mark.parametrize("text, start, expected", [
    ("capital", 13, (7, 7)),
    ("the capital", 9, (6, 7)),
    ("France", 24, (9, 9)),
    ("France.", 24, (9, 10)),
    ("apit", 14, (7, 7)),  # an answer inside one token maps to that token
])
def test_answer_characters_map_to_the_covering_tokens(text, start, expected):
    assert CONTEXT[start:start + len(text)] == text
    assert answer_token_span(OFFSETS, {"text": [text], "answer_start": [start]}) == expected


def test_answer_outside_the_window_or_missing_points_to_cls():
    window = OFFSETS[:8] + [None] * 4  # the window ends after "capital"
    assert answer_token_span(window, {"text": ["France"], "answer_start": [24]}) == (0, 0)
    assert answer_token_span(OFFSETS, {"text": [], "answer_start": []}) == (0, 0)


def _qa_records(n_questions=1):
    context = ("Everyone has the right to life, liberty and security of person. No one shall be held in "
               "slavery or servitude. Everyone has the right to recognition everywhere as a person before the law.")
    answer = "recognition everywhere"
    return [{"id": f"q{i}", "question": "What right?", "context": context,
             "answers": {"text": [answer], "answer_start": [context.index(answer)]}} for i in range(n_questions)]


def test_long_context_is_cut_into_overlapping_windows_and_the_answer_lands_in_the_right_ones(tmp_path):
    records = _qa_records(2)
    path = write_jsonl(tmp_path / "qa.jsonl", records)
    data = load_task_dataset({"train": str(path), "max_length": 24, "doc_stride": 6, "buckets": [16, 24]},
                             reference_tokenizer(), "train", task="question_answering")
    windows = np.flatnonzero(data.feature_example == 0)
    assert len(windows) > 2 and len(data) == 2 * len(windows)
    found = 0
    for f in windows:
        feature, offsets = data.features[f], data.qa_offsets[f]
        assert len(feature["input_ids"]) <= 24
        start, end = feature["start_positions"], feature["end_positions"]
        if (start, end) == (0, 0):
            continue
        found += 1
        # a word-initial piece's offsets include the space before it (Metaspace), hence the strip
        assert records[0]["context"][offsets[start][0]:offsets[end][1]].strip() == "recognition everywhere"
    assert found >= 1
    # consecutive windows share doc_stride context tokens
    first = [o for o in data.qa_offsets[windows[0]] if o is not None]
    second = [o for o in data.qa_offsets[windows[1]] if o is not None]
    assert first[-6:] == second[:6]


def test_answer_that_does_not_match_the_context_is_named(tmp_path):
    record = {"id": "q", "question": "Who?", "context": "Paris is nice.", "answers": {"text": ["Lyon"], "answer_start": [0]}}
    path = write_jsonl(tmp_path / "qa.jsonl", [record])
    with pytest.raises(ValueError, match=r"row 1, column 'answers': answer 'Lyon' is not at character 0 .*'Pari'"):
        load_task_dataset({"train": str(path)}, reference_tokenizer(), "train", task="question_answering")


@pytest.mark.parametrize("start", ["first", None, [0]])
def test_answer_start_that_is_not_a_character_index_is_named(tmp_path, start):
    record = {"id": "q", "question": "Who?", "context": "Paris is nice.",
              "answers": {"text": ["Paris"], "answer_start": [start]}}
    path = write_jsonl(tmp_path / "qa.jsonl", [record])
    with pytest.raises(ValueError, match=r"row 1, column 'answers': answer_start .* is not a character index"):
        load_task_dataset({"train": str(path)}, reference_tokenizer(), "train", task="question_answering")


@pytest.mark.parametrize("start", [-5, 15, 99])
def test_answer_start_outside_the_context_is_named_not_trained_as_no_answer(tmp_path, start):
    # -5 slices "nice." from the end of the context, so the text check alone accepted it.
    record = {"id": "q", "question": "Who?", "context": "Paris is nice.", "answers": {"text": ["nice."], "answer_start": [start]}}
    path = write_jsonl(tmp_path / "qa.jsonl", [record])
    with pytest.raises(ValueError, match=rf"qa\.jsonl: row 1, column 'answers': answer_start {start} is outside "
                                         r"the context \(a 5-character answer must start at 0\.\.9\)"):
        load_task_dataset({"train": str(path)}, reference_tokenizer(), "train", task="question_answering")


def test_question_too_long_for_the_window_is_named(tmp_path):
    record = {"id": "q", "question": "Where is it " * 10, "context": "Paris is nice.",
              "answers": {"text": ["Paris"], "answer_start": [0]}}
    path = write_jsonl(tmp_path / "qa.jsonl", [record])
    with pytest.raises(ValueError, match=r"row 1: the question has \d+ tokens, but with data\.max_length 32 and "
                                         r"data\.doc_stride 8 at most 21 fit"):
        load_task_dataset({"train": str(path), "max_length": 32}, reference_tokenizer(), "train",
                          task="question_answering")


# Post-processing, against hand-computed answers.
#                 CLS  q  q  SEP Paris is the capital of France  .  SEP
START = np.array([5.0, 9, 0, 0, 1.0, 0, 0, 3.0, 0, 4.0, 0.0, 8.0])
END = np.array([5.0, 0, 0, 0, 0.0, 0, 0, 2.0, 0, 6.0, 1.0, 0.0])
EXAMPLES = [{"id": "a", "context": CONTEXT}]


def test_best_span_is_chosen_and_question_and_special_tokens_are_never_answers():
    # Highest raw logits sit on a question token (start 9) and [SEP] (start 8): both skipped.
    # Valid spans by score: France (4+6=10), capital..France (3+6=9), France. (4+1=5), capital (3+2=5), ...
    predictions, nbest = postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None])
    assert predictions == {"a": "France"}
    assert [c["text"] for c in nbest["a"][:2]] == ["France", "capital of France"]
    assert [c["score"] for c in nbest["a"][:2]] == [10.0, 9.0]
    assert sum(c["probability"] for c in nbest["a"]) == pytest.approx(1.0)


def test_max_answer_length_drops_longer_spans():
    _, nbest = postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None], max_answer_length=2)
    texts = [c["text"] for c in nbest["a"]]
    assert "capital of France" not in texts and "France." in texts
    assert all(len(t.split()) <= 2 for t in texts)


def test_n_best_limits_the_start_and_end_candidates():
    # n_best=3: the top-3 starts are the question token, [SEP] and [CLS]: no valid span at all.
    predictions, nbest = postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None], n_best=3)
    assert predictions == {"a": ""} and nbest["a"] == []
    # n_best=4 adds start "France"; ends: France (6), [CLS] (5), capital (2), "." (1) -> France, France.
    _, nbest = postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None], n_best=4)
    assert [(c["text"], c["score"]) for c in nbest["a"]] == [("France", 10.0), ("France.", 5.0)]


def test_null_answer_wins_only_when_allowed_and_above_the_threshold():
    # null score = start[CLS] + end[CLS] = 10, best span = 10: a tie keeps the span.
    kwargs = {"n_best": 20, "allow_null_answer": True}
    assert postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None], **kwargs)[0] == {"a": "France"}
    answers, nbest = postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None],
                                                null_score_diff_threshold=-0.5, **kwargs)
    assert answers == {"a": ""} and any(c["null"] for c in nbest["a"])


def test_the_best_span_over_all_windows_of_a_question_wins():
    # A second window of the same question where "capital" scores 7 + 7 = 14 > 10.
    second = [None, None, None, None, (13, 20), (21, 23), None]
    start2 = np.array([1.0, 0, 0, 0, 7.0, 0, 0, 0, 0, 0, 0, 0])
    end2 = np.array([0.5, 0, 0, 0, 7.0, 0, 0, 0, 0, 0, 0, 0])
    predictions, _ = postprocess_qa_predictions(
        [*EXAMPLES, {"id": "b", "context": "x"}], [0, 0], [OFFSETS, second], np.stack([START, start2]),
        np.stack([END, end2]), allow_null_answer=True)
    # "b" has no window: no answer. The null score is the minimum over windows: min(10, 1.5) = 1.5.
    assert predictions == {"a": "capital", "b": ""}


def test_logits_of_the_wrong_shape_are_an_error():
    with pytest.raises(ValueError, match=r"must both be \[num_features=1, S\]"):
        postprocess_qa_predictions(EXAMPLES, [0], [OFFSETS], START[None], END[None, :5])


def test_answer_text_drops_the_space_a_word_initial_piece_carries():
    # "▁France" covers the space before the word: offsets (23, 30) -> " France" -> "France"
    offsets = [None, (23, 30), None]
    answers, _ = postprocess_qa_predictions(EXAMPLES, [0], [offsets], np.array([[0.0, 5, 0]]), np.array([[0.0, 5, 0]]))
    assert answers == {"a": "France"}
