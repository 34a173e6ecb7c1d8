"""BatchIterator: bucketed fixed shapes, padded last batch, exact resume, MLM masking."""

import itertools

import numpy as np
import pytest
from data_fixtures import reference_tokenizer, write_jsonl

from rembert_jax.train.data import load_task_dataset
from rembert_jax.train.data.batching import BatchIterator, model_inputs
from rembert_jax.train.data.masking import mask_tokens

SPEC = {"train": "demo:train.jsonl", "eval": "demo:dev.jsonl", "labels": "demo:labels.json", "max_length": 64}


@pytest.fixture(scope="module")
def demo_train():
    return load_task_dataset(SPEC, reference_tokenizer(), "train", task="sequence_classification")


@pytest.fixture(scope="module")
def demo_dev():
    return load_task_dataset(SPEC, reference_tokenizer(), "eval", task="sequence_classification")


def test_every_batch_has_the_batch_size_and_a_bucket_length(demo_train):
    iterator = BatchIterator(demo_train, 32, shuffle=True, seed=1, repeat=False)
    shapes = set()
    for batch in iterator:
        b, s = batch["input_ids"].shape
        assert b == 32 and s in (16, 32, 64)
        assert batch["attention_mask"].shape == batch["token_type_ids"].shape == (32, s)
        assert batch["labels"].shape == batch["weight"].shape == batch["index"].shape == (32,)
        longest = demo_train.lengths[batch["index"][batch["index"] >= 0]].max()
        assert s == min(b_ for b_ in (16, 32, 64) if b_ >= longest)  # the smallest bucket that fits
        shapes.add((b, s))
    assert len(shapes) <= 3


def test_a_batch_holds_the_features_padded_with_the_pad_id(demo_dev):
    batch = next(iter(BatchIterator(demo_dev, 4)))
    for row, index in enumerate(batch["index"]):
        feature = demo_dev.features[index]
        n = len(feature["input_ids"])
        np.testing.assert_array_equal(batch["input_ids"][row, :n], feature["input_ids"])
        assert (batch["input_ids"][row, n:] == demo_dev.token_ids.pad).all()
        assert batch["attention_mask"][row].sum() == n and batch["labels"][row] == feature["labels"]


def test_last_batch_is_padded_with_weight_zero_rows_the_losses_ignore(demo_dev):
    iterator = BatchIterator(demo_dev, 32)
    batches = list(iterator)
    assert len(batches) == len(iterator) == 4  # 102 examples
    last = batches[-1]
    real = len(demo_dev) - 3 * 32
    np.testing.assert_array_equal(last["weight"], [1.0] * real + [0.0] * (32 - real))
    np.testing.assert_array_equal(last["index"][real:], -1)
    assert (last["labels"][real:] == -100).all()
    pad_rows = last["input_ids"][real:]
    assert (pad_rows[:, :2] == [demo_dev.token_ids.cls, demo_dev.token_ids.sep]).all()
    assert (last["attention_mask"][real:].sum(1) == 2).all()  # no all-masked attention row
    # every example is visited exactly once
    seen = np.concatenate([b["index"][b["weight"] > 0] for b in batches])
    np.testing.assert_array_equal(np.sort(seen), np.arange(len(demo_dev)))


def test_model_inputs_drops_the_bookkeeping_keys(demo_dev):
    batch = next(iter(BatchIterator(demo_dev, 4)))
    assert set(model_inputs(batch)) == {"input_ids", "attention_mask", "token_type_ids", "labels"}


def test_shuffle_is_a_pure_function_of_seed_and_epoch(demo_train):
    a = BatchIterator(demo_train, 16, shuffle=True, seed=3)
    b = BatchIterator(demo_train, 16, shuffle=True, seed=3)
    c = BatchIterator(demo_train, 16, shuffle=True, seed=4)
    epoch0 = [x["index"] for x in itertools.islice(a, len(a))]
    np.testing.assert_array_equal(epoch0, [x["index"] for x in itertools.islice(b, len(b))])
    assert not np.array_equal(epoch0[0], next(iter(c))["index"])
    epoch1_first = next(iter(a))["index"]  # repeat=True: the iterator went on into epoch 1
    assert a.epoch == 1 and not np.array_equal(epoch1_first, epoch0[0])


def test_resume_from_state_dict_yields_exactly_the_remaining_batches(demo_train):
    reference = BatchIterator(demo_train, 16, shuffle=True, seed=7, group_by_length=True)
    expected = list(itertools.islice(reference, 70))  # crosses the epoch boundary (55 batches an epoch)
    interrupted = BatchIterator(demo_train, 16, shuffle=True, seed=7, group_by_length=True)
    list(itertools.islice(interrupted, 40))
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "position": 40, "seed": 7, "num_examples": 876, "batch_size": 16}
    resumed = BatchIterator(demo_train, 16, shuffle=True, seed=0, group_by_length=True)
    resumed.load_state_dict(state)
    for want, got in zip(expected[40:], itertools.islice(resumed, 30), strict=True):
        for key in want:
            np.testing.assert_array_equal(want[key], got[key])
    assert reference.state_after(70) == reference.state_dict()


def test_resume_with_other_data_or_batch_size_is_refused(demo_train):
    state = BatchIterator(demo_train, 16).state_dict()
    with pytest.raises(ValueError, match=r"checkpoint's batch_size is 16 but this run's is 8"):
        BatchIterator(demo_train, 8).load_state_dict(state)
    with pytest.raises(ValueError, match=r"checkpoint's num_examples is 5 but this run's is 876"):
        BatchIterator(demo_train, 16).load_state_dict({**state, "num_examples": 5})


def test_group_by_length_reduces_padding(demo_train):
    def padded_tokens(iterator):
        return sum(b["input_ids"].size for b in iterator)

    plain = padded_tokens(BatchIterator(demo_train, 16, shuffle=True, repeat=False))
    grouped = padded_tokens(BatchIterator(demo_train, 16, shuffle=True, repeat=False, group_by_length=True))
    assert grouped < plain


def test_buckets_that_cannot_hold_the_longest_sequence_are_refused(demo_train):
    with pytest.raises(ValueError, match=r"buckets \[16, 32\] must be strictly increasing and reach the longest "
                                         r"sequence .*\(64 tokens\)"):
        BatchIterator(demo_train, 8, buckets=[16, 32])
    with pytest.raises(ValueError, match=r"batch_size is 0; allowed: an integer >= 1"):
        BatchIterator(demo_train, 0)


def test_multiple_choice_batches_are_batch_by_choice_by_length(tmp_path):
    records = [{"text": "Everyone has", "choices": ["the right to life.", "a cat.", "no name at all today."],
                "label": i % 3} for i in range(5)]
    data = load_task_dataset({"train": str(write_jsonl(tmp_path / "mc.jsonl", records)), "max_length": 32},
                             reference_tokenizer(), "train", task="multiple_choice")
    batches = list(BatchIterator(data, 4))
    assert batches[0]["input_ids"].shape == (4, 3, 16) and batches[0]["labels"].tolist() == [0, 1, 2, 0]
    np.testing.assert_array_equal(batches[1]["labels"], [1, -100, -100, -100])
    assert (batches[1]["attention_mask"][1:].sum(-1) == 2).all()


def test_token_classification_and_qa_targets_are_padded_to_ignored_values(tmp_path):
    records = [{"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}]
    data = load_task_dataset({"train": str(write_jsonl(tmp_path / "ner.jsonl", records))}, reference_tokenizer(),
                             "train", task="token_classification")
    batch = next(iter(BatchIterator(data, 2)))
    assert batch["labels"].shape == (2, 16) and (batch["labels"][1] == -100).all()
    n = len(data.features[0]["labels"])
    np.testing.assert_array_equal(batch["labels"][0, :n], data.features[0]["labels"])
    assert (batch["labels"][0, n:] == -100).all()

    qa = [{"id": "q", "question": "Who?", "context": "John lives in Paris.",
           "answers": {"text": ["John"], "answer_start": [0]}}]
    data = load_task_dataset({"train": str(write_jsonl(tmp_path / "qa.jsonl", qa))}, reference_tokenizer(),
                             "train", task="question_answering")
    batch = next(iter(BatchIterator(data, 2)))
    seq_len = batch["input_ids"].shape[1]
    assert batch["start_positions"][1] == batch["end_positions"][1] == seq_len  # transformers ignores index S
    assert 0 < batch["start_positions"][0] <= batch["end_positions"][0] < seq_len


def test_mlm_masking_follows_80_10_10_and_never_touches_special_tokens():
    ids = np.concatenate([[2], np.arange(10, 3010) % 2990 + 5, [3]])  # [CLS] 3000 regular tokens [SEP]
    specials = {0, 1, 2, 3, 4}
    masked, labels = mask_tokens(ids, seed=0, epoch=0, example_index=0, mask_token_id=4, special_ids=specials,
                                 vocab_size=3000, probability=0.15)
    selected = labels != -100
    assert labels[0] == labels[-1] == -100 and masked[0] == 2 and masked[-1] == 3
    np.testing.assert_array_equal(labels[selected], ids[selected])
    assert 0.12 < selected.mean() < 0.18
    as_mask = (masked == 4) & selected
    kept = (masked == ids) & selected
    randomized = selected & ~as_mask & ~kept
    assert 0.75 < as_mask.sum() / selected.sum() < 0.85
    assert 0.05 < kept.sum() / selected.sum() < 0.15 and 0.05 < randomized.sum() / selected.sum() < 0.15
    assert not np.isin(masked[randomized], list(specials)).any()
    np.testing.assert_array_equal(masked[~selected], ids[~selected])


def test_mlm_masking_is_deterministic_per_seed_epoch_and_example():
    ids = np.arange(5, 205)
    kwargs = {"mask_token_id": 4, "special_ids": {0, 1, 2, 3, 4}, "vocab_size": 300}
    a = mask_tokens(ids, seed=1, epoch=2, example_index=3, **kwargs)
    np.testing.assert_array_equal(a[1], mask_tokens(ids, seed=1, epoch=2, example_index=3, **kwargs)[1])
    for other in ({"seed": 2, "epoch": 2, "example_index": 3}, {"seed": 1, "epoch": 3, "example_index": 3},
                  {"seed": 1, "epoch": 2, "example_index": 4}):
        assert not np.array_equal(a[1], mask_tokens(ids, **other, **kwargs)[1])


def test_mlm_masks_at_least_one_token_of_a_short_sequence():
    for example in range(20):
        _, labels = mask_tokens(np.array([2, 50, 3]), seed=0, epoch=0, example_index=example, mask_token_id=4,
                                special_ids={0, 1, 2, 3, 4}, vocab_size=100)
        assert labels.tolist() == [-100, 50, -100]


def test_mlm_batches_mask_differently_each_epoch_and_resume_identically(tmp_path):
    records = [{"text": "Everyone has the right to life, liberty and security of person."}] * 6
    data = load_task_dataset({"train": str(write_jsonl(tmp_path / "lm.jsonl", records))}, reference_tokenizer(),
                             "train", task="masked_lm")
    iterator = BatchIterator(data, 6, shuffle=True, seed=5)
    epoch0, epoch1 = next(iter(iterator)), next(iter(iterator))
    assert not np.array_equal(epoch0["labels"], epoch1["labels"])
    assert (epoch0["labels"] != -100).any(axis=1).all()
    resumed = BatchIterator(data, 6, shuffle=True, seed=0)
    resumed.load_state_dict({**iterator.state_after(1)})
    np.testing.assert_array_equal(next(iter(resumed))["input_ids"], epoch1["input_ids"])


def test_causal_lm_labels_are_the_inputs_on_real_tokens(tmp_path):
    data = load_task_dataset({"train": str(write_jsonl(tmp_path / "lm.jsonl", [{"text": "All are equal."}]))},
                             reference_tokenizer(), "train", task="causal_lm")
    batch = next(iter(BatchIterator(data, 2)))
    n = len(data.features[0]["input_ids"])
    np.testing.assert_array_equal(batch["labels"][0, :n], data.features[0]["input_ids"])
    assert (batch["labels"][0, n:] == -100).all() and (batch["labels"][1] == -100).all()


def test_regression_padding_rows_repeat_real_rows_so_the_mse_loss_has_no_made_up_targets(tmp_path):
    # MSE has no ignore index: a padding row with a made-up target (0.0) would train the model toward it.
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": y} for t, y in
                                                   (("a b", 0.5), ("c", 2.0), ("d e f", -1.0))])
    data = load_task_dataset({"train": str(path), "regression": True}, reference_tokenizer(), "train",
                             task="sequence_classification")
    batch = BatchIterator(data, 4).collate(np.arange(3))
    np.testing.assert_array_equal(batch["weight"], [1, 1, 1, 0])
    np.testing.assert_array_equal(batch["index"], [0, 1, 2, -1])
    np.testing.assert_array_equal(batch["labels"], [0.5, 2.0, -1.0, 0.5])
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(batch[key][3], batch[key][0])
