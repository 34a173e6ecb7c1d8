"""Packed training batches (data.packing): rows of several examples, exact resume, same MLM masking."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_fixtures import reference_tokenizer

from rembert_jax.train.data import load_task_dataset
from rembert_jax.train.data.masking import mask_tokens
from rembert_jax.train.data.packed_batching import PackedBatchIterator

SPEC = {"train": "demo:train.jsonl", "labels": "demo:labels.json", "max_length": 64}


@pytest.fixture(scope="module")
def mlm_train():
    return load_task_dataset(SPEC, reference_tokenizer(), "train", task="masked_lm")


def _segments(batch, row):
    """[(start, length)] of the examples in one row of a packed batch."""
    seg = batch["segment_ids"][row]
    return [(int(np.flatnonzero(seg == k)[0]), int((seg == k).sum())) for k in range(1, seg.max() + 1)]


def test_an_epoch_places_every_example_once_in_full_width_rows(mlm_train):
    iterator = PackedBatchIterator(mlm_train, 16, shuffle=True, seed=3, repeat=False)
    seen = []
    for batch in iterator:
        assert batch["input_ids"].shape == batch["segment_ids"].shape == batch["labels"].shape == (16, 64)
        for row, number in enumerate(batch["index"]):
            if number < 0:
                assert batch["weight"][row] == 0
                continue
            members = iterator.rows[number]
            spans = _segments(batch, row)
            assert [n for _, n in spans] == [int(mlm_train.lengths[i]) for i in members]
            for start, n in spans:  # positions restart for every example
                np.testing.assert_array_equal(batch["position_ids"][row, start:start + n], np.arange(n))
            seen += members
    assert sorted(seen) == list(range(len(mlm_train)))
    assert len(iterator) < -(-len(mlm_train) // 16)  # fewer batches than one example per row
    assert 0.8 < iterator.fill <= 1.0


def test_masked_lm_tokens_and_labels_are_those_of_the_unpacked_iterator(mlm_train):
    iterator = PackedBatchIterator(mlm_train, 8, shuffle=True, seed=5)
    batch = next(iter(iterator))
    tokens = mlm_train.token_ids
    for row, number in enumerate(batch["index"]):
        for index, (start, n) in zip(iterator.rows[number], _segments(batch, row), strict=True):
            ids, labels = mask_tokens(mlm_train.features[index]["input_ids"], seed=5, epoch=0, example_index=index,
                                      mask_token_id=tokens.mask, special_ids=tokens.special,
                                      vocab_size=tokens.vocab_size, probability=mlm_train.mlm_probability)
            np.testing.assert_array_equal(batch["input_ids"][row, start:start + n], ids)
            np.testing.assert_array_equal(batch["labels"][row, start:start + n], labels)


def test_resuming_from_a_saved_position_gives_the_same_batches(mlm_train):
    first = PackedBatchIterator(mlm_train, 16, shuffle=True, seed=1)
    stream = iter(first)
    for _ in range(len(first) + 2):  # into the second epoch
        next(stream)
    state = first.state_dict()
    expected = next(stream)
    resumed = PackedBatchIterator(mlm_train, 16, shuffle=True, seed=1)
    resumed.load_state_dict(json.loads(json.dumps(state)))
    got = next(iter(resumed))
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_tasks_with_one_label_per_example_refuse_packing():
    dataset = load_task_dataset(SPEC, reference_tokenizer(), "train", task="sequence_classification")
    with pytest.raises(ValueError, match="data.packing needs a per-token task"):
        PackedBatchIterator(dataset, 8)


def test_a_packed_masked_lm_run_trains_on_packed_batches(tmp_path, monkeypatch):
    from rembert_jax.cli import main

    collate, packed_batches = PackedBatchIterator.collate, []
    monkeypatch.setattr(PackedBatchIterator, "collate",
                        lambda self, rows: packed_batches.append(rows) or collate(self, rows))

    config = {
        "task": "masked_lm", "output_dir": str(tmp_path / "run"),
        "model": {"config": "tiny", "overrides": {
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "input_embedding_size": 16,
            "output_embedding_size": 16, "intermediate_size": 37, "max_position_embeddings": 64}},
        "data": {"train": "demo:train.jsonl", "tokenizer": "demo:", "max_length": 64, "packing": True},
        "optim": {"learning_rate": 3e-3, "warmup_steps": 1},
        "train": {"steps": 6, "batch_size": 4, "log_every": 1, "progress_bar": False},
        "checkpoint": {"every": 6, "keep": 1},
    }
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config))
    assert main(["train", str(path)]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert len(packed_batches) >= 6  # the steps really trained on packed rows


def test_the_examples_per_second_count_is_of_examples_not_rows(mlm_train):
    from rembert_jax.train.run_data import TrainBatches

    iterator = PackedBatchIterator(mlm_train, 8, shuffle=True, seed=2)
    batches = TrainBatches(iterator)
    inputs = next(batches)
    rows = iterator.epoch_batches(0)[0]
    assert batches.last_examples == sum(len(iterator.rows[r]) for r in rows) > 8
    assert "weight" not in inputs and "segment_ids" in inputs


def test_a_run_config_refuses_packing_for_one_label_per_example_tasks():
    from rembert_jax.train.run_config import RunConfig

    with pytest.raises(ValueError, match="data.packing needs a per-token task"):
        RunConfig.from_dict({"task": "sequence_classification", "model": {"config": "tiny"},
                             "data": {"packing": True}})
