"""Per-token task losses on packed rows equal the losses on the same sequences padded one per row."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax.heads import TaskModel
from rembert_jax.packing import pack_sequences

LENGTHS = (5, 3, 7, 2, 6)


def _padded_and_packed(config, task, seed=0):
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(1, config.vocab_size, n) for n in LENGTHS]
    if task == "token_classification":
        labels = [rng.integers(0, config.num_labels, len(s)) for s in sequences]
    elif task == "masked_lm":
        labels = [np.where(rng.random(len(s)) < 0.5, s, -100) for s in sequences]
    else:  # causal_lm: labels are the inputs
        labels = [s.copy() for s in sequences]
    width = max(LENGTHS)
    padded = {"input_ids": np.full((len(LENGTHS), width), config.pad_token_id, np.int32),
              "attention_mask": np.zeros((len(LENGTHS), width), np.int32),
              "labels": np.full((len(LENGTHS), width), -100, np.int32)}
    for i, (s, y) in enumerate(zip(sequences, labels, strict=True)):
        padded["input_ids"][i, :len(s)], padded["attention_mask"][i, :len(s)], padded["labels"][i, :len(s)] = s, 1, y
    packed = pack_sequences(sequences, row_length=12, pad_token_id=config.pad_token_id)
    packed_labels = np.full(packed.inputs["input_ids"].shape, -100, np.int32)
    for r, row in enumerate(packed.segments):
        for index, start, n in row:
            packed_labels[r, start:start + n] = labels[index]
    return padded, {**packed.inputs, "labels": packed_labels}


@pytest.mark.parametrize("task", ["masked_lm", "token_classification", "causal_lm"])
def test_packed_loss_equals_padded_loss(tiny_config, tiny_decoder_config, task):
    config = tiny_decoder_config.replace(add_cross_attention=False) if task == "causal_lm" else tiny_config
    model = TaskModel(config, task)
    params = model.init(jax.random.key(0))
    padded, packed = _padded_and_packed(config, task)
    loss_padded, _ = model.loss(params, padded)
    loss_packed, _ = model.loss(params, packed)
    np.testing.assert_allclose(loss_packed, loss_padded, atol=1e-5, rtol=0)


def test_tasks_with_one_label_per_row_refuse_packed_rows(tiny_config):
    model = TaskModel(tiny_config, "sequence_classification")
    params = model.init(jax.random.key(0))
    _, packed = _padded_and_packed(tiny_config, "masked_lm")
    packed["labels"] = np.zeros(packed["input_ids"].shape[0], np.int32)
    with pytest.raises(ValueError, match="sequence_classification cannot take packed rows"):
        model.apply(params, packed)
