"""EvalAccumulator: model outputs over batches -> the task's metrics and predictions (outputs made by hand)."""

import math

import numpy as np
import pytest
from data_fixtures import reference_tokenizer, write_jsonl

from rembert_jax.train.data import load_task_dataset
from rembert_jax.train.data.batching import BatchIterator
from rembert_jax.train.eval_accumulator import EvalAccumulator


def _run(data, make_outputs, batch_size=4, group_by_length=True):
    accumulator = EvalAccumulator(data)
    for batch in BatchIterator(data, batch_size, group_by_length=group_by_length):
        accumulator.add(batch, make_outputs(batch))
    return accumulator


def test_classification_metrics_skip_padding_rows_and_follow_the_dataset_order(tmp_path):
    labels = ["a", "b", "c", "a", "b", "c", "a"]
    records = [{"id": f"r{i}", "text": "word " * (i + 1), "label": label} for i, label in enumerate(labels)]
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "dev.jsonl", records)), "labels": ["a", "b", "c"]},
                             reference_tokenizer(), "eval", task="sequence_classification")
    predicted = np.array([0, 1, 2, 0, 1, 1, 2])  # wrong at rows 5 and 6

    def outputs(batch):
        logits = np.zeros((len(batch["index"]), 3), np.float32)  # padding rows predict class 0
        for row, index in enumerate(batch["index"]):
            if index >= 0:
                logits[row, predicted[index]] = 5.0
        return {"logits": logits, "loss": np.float32(0.25)}

    accumulator = _run(data, outputs)
    metrics = accumulator.metrics()
    assert metrics["accuracy"] == pytest.approx(5 / 7) and metrics["loss"] == pytest.approx(0.25)
    rows = accumulator.predictions()
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(7)]
    assert [r["prediction"] for r in rows] == ["a", "b", "c", "a", "b", "b", "c"]
    assert rows[0]["probability"] == pytest.approx(math.exp(5) / (math.exp(5) + 2))


def test_incomplete_pass_is_an_error(tmp_path):
    records = [{"text": "x", "label": "a"}] * 5
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "dev.jsonl", records)), "labels": ["a"]},
                             reference_tokenizer(), "eval", task="sequence_classification")
    accumulator = EvalAccumulator(data)
    accumulator.add(next(iter(BatchIterator(data, 4))), {"logits": np.zeros((4, 1), np.float32)})
    with pytest.raises(ValueError, match=r"outputs for 1 of 5 features are missing"):
        accumulator.metrics()


def test_unlabelled_file_can_be_predicted_but_not_scored(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [{"text": "x"}])
    data = load_task_dataset({"test": str(path), "labels": ["a", "b"]}, reference_tokenizer(), "test",
                             task="sequence_classification")
    accumulator = _run(data, lambda b: {"logits": np.tile([[0.0, 1.0]], (len(b["index"]), 1))})
    assert accumulator.predictions()[0]["prediction"] == "b"
    with pytest.raises(ValueError, match=r"test\.jsonl has no targets \(no 'label' column\)"):
        accumulator.metrics()


def test_token_classification_scores_entities_at_first_word_pieces(tmp_path):
    records = [{"tokens": ["John", "Smith", "lives", "in", "Paris"], "tags": ["B-PER", "I-PER", "O", "O", "B-LOC"]},
               {"tokens": ["Everyone", "in", "Berlin"], "tags": ["O", "O", "B-LOC"]}]
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "ner.jsonl", records)),
                              "labels": ["O", "B-PER", "I-PER", "B-LOC"]}, reference_tokenizer(), "eval",
                             task="token_classification")
    # predict: row 0 right except Paris -> O; row 1 right. Gold 3 entities, predicted 2, both right.
    word_predictions = [[1, 2, 0, 0, 0], [0, 0, 3]]

    def outputs(batch):
        logits = np.zeros(batch["input_ids"].shape + (4,), np.float32)  # [B, S, 4]; other pieces predict O
        for row, index in enumerate(batch["index"]):
            if index >= 0:
                first = np.flatnonzero(data.features[index]["first_pieces"])
                logits[row, first, word_predictions[index]] = 3.0
        return {"logits": logits}

    accumulator = _run(data, outputs)
    assert accumulator.metrics() == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "accuracy": 7 / 8})
    assert accumulator.predictions()[1]["prediction"] == ["O", "O", "B-LOC"]


def test_question_answering_end_to_end_from_window_logits_to_exact_match(tmp_path):
    context = ("Everyone has the right to life, liberty and security of person. No one shall be held in "
               "slavery or servitude. Everyone has the right to recognition everywhere as a person before the law.")
    records = [{"id": "q1", "question": "What right?", "context": context,
                "answers": {"text": ["recognition everywhere"], "answer_start": [context.index("recognition")]}},
               {"id": "q2", "question": "Held in what?", "context": context,
                "answers": {"text": ["slavery or servitude"], "answer_start": [context.index("slavery")]}}]
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "qa.jsonl", records)), "max_length": 32,
                              "doc_stride": 8}, reference_tokenizer(), "eval", task="question_answering")
    assert len(data) > 2  # several windows per question

    def outputs(batch):
        # an oracle: high logits on the labelled answer tokens of windows that contain the answer
        shape = batch["input_ids"].shape
        start, end = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        for row, index in enumerate(batch["index"]):
            if index >= 0 and data.features[index]["start_positions"] > 0:
                start[row, data.features[index]["start_positions"]] = 10.0
                end[row, data.features[index]["end_positions"]] = 10.0
        return {"start_logits": start, "end_logits": end}

    accumulator = _run(data, outputs)
    assert accumulator.metrics() == {"exact_match": 1.0, "f1": 1.0}
    assert [r["prediction"] for r in accumulator.predictions()] == ["recognition everywhere", "slavery or servitude"]


def test_masked_lm_perplexity_of_uniform_logits_is_the_vocabulary_size(tmp_path):
    records = [{"text": "Everyone has the right to life, liberty and security of person."}] * 3
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "lm.jsonl", records))}, reference_tokenizer(),
                             "eval", task="masked_lm")
    vocab = data.token_ids.vocab_size
    accumulator = _run(data, lambda b: {"logits": np.zeros(b["input_ids"].shape + (vocab,), np.float32)})
    metrics = accumulator.metrics()
    assert metrics["perplexity"] == pytest.approx(vocab, rel=1e-6) and metrics["loss"] == pytest.approx(math.log(vocab))
    with pytest.raises(ValueError, match="masked_lm has no per-example predictions"):
        accumulator.predictions()


def test_causal_lm_scores_the_next_token(tmp_path):
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "lm.jsonl", [{"text": "All are equal."}]))},
                             reference_tokenizer(), "eval", task="causal_lm")
    vocab = data.token_ids.vocab_size

    def outputs(batch):
        logits = np.zeros(batch["input_ids"].shape + (vocab,), np.float32)
        ids = batch["input_ids"]
        rows, positions = np.meshgrid(np.arange(ids.shape[0]), np.arange(ids.shape[1] - 1), indexing="ij")
        logits[rows, positions, ids[:, 1:]] = 100.0  # position t puts all its mass on token t + 1
        return {"logits": logits}

    metrics = _run(data, outputs).metrics()
    assert metrics["token_accuracy"] == 1.0 and metrics["perplexity"] == pytest.approx(1.0)


def test_regression_eval_loss_is_the_mse_over_real_rows_only(tmp_path):
    # 3 examples in a batch of 4: the fourth row repeats the first (weight 0), so the batch's own
    # mean loss counts that example twice; the reported loss must not.
    records = [{"text": t, "label": y} for t, y in (("a", 1.0), ("b c", 2.0), ("d e f", 4.0))]
    data = load_task_dataset({"eval": str(write_jsonl(tmp_path / "dev.jsonl", records)), "regression": True},
                             reference_tokenizer(), "eval", task="sequence_classification")
    predicted = np.array([0.0, 2.0, 2.0])  # squared errors 1, 0, 4

    def outputs(batch):
        logits = predicted[np.maximum(batch["index"], 0)][:, None].astype(np.float32)  # [B, 1]
        logits[batch["index"] < 0] = logits[0]  # the repeated row copies the batch's first input
        loss = np.mean((logits[:, 0] - batch["labels"]) ** 2)  # the model's batch MSE, repeated rows included
        return {"logits": logits, "loss": np.float32(loss)}

    metrics = _run(data, outputs, batch_size=4, group_by_length=False).metrics()
    assert metrics["mse"] == pytest.approx(5 / 3) and metrics["loss"] == pytest.approx(5 / 3)
