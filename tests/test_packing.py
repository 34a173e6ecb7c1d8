"""Sequence packing (rembert_jax.packing): packed rows give every sequence its unpacked output."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rembert_jax import init_params
from rembert_jax.encoder import apply
from rembert_jax.packing import pack_sequences, plan_rows

LENGTHS = (5, 3, 7, 2, 6, 12, 1)


def _sequences(config, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(1, config.vocab_size, n) for n in LENGTHS]


def test_first_fit_decreasing_fills_rows_without_overflow():
    rows = plan_rows(LENGTHS, 12)
    assert sorted(i for row in rows for i in row) == list(range(len(LENGTHS)))
    assert all(sum(LENGTHS[i] for i in row) <= 12 for row in rows)
    assert len(rows) == 3  # 36 tokens in rows of 12: first-fit decreasing leaves no slot empty here


def test_packed_forward_equals_each_sequence_run_alone(tiny_config):
    params = init_params(tiny_config, jax.random.key(0))
    sequences = _sequences(tiny_config)
    types = [np.arange(n) % 2 for n in LENGTHS]  # token types must follow their tokens into the rows
    packed = pack_sequences(sequences, row_length=12, pad_token_id=tiny_config.pad_token_id, token_type_ids=types)
    assert packed.inputs["attention_mask"].shape == (3, 12, 12)
    hidden = apply(params, packed.inputs, config=tiny_config)["last_hidden_state"]  # [R, L, H]
    for seq, kinds, got in zip(sequences, types, packed.unpack(hidden), strict=True):
        alone = apply(params, {"input_ids": seq[None], "token_type_ids": kinds[None]},
                      config=tiny_config)["last_hidden_state"][0]  # [n, H]
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)


def test_positions_restart_and_padding_attends_nowhere(tiny_config):
    packed = pack_sequences([[7, 8, 9], [4, 5]], row_length=6, pad_token_id=0)
    np.testing.assert_array_equal(packed.inputs["position_ids"], [[0, 1, 2, 0, 1, 0]])
    np.testing.assert_array_equal(packed.inputs["input_ids"], [[7, 8, 9, 4, 5, 0]])
    mask = packed.inputs["attention_mask"][0]
    assert mask[0, :3].all() and not mask[0, 3:].any()  # first sequence sees only itself
    assert mask[3, 3:5].all() and not mask[3, :3].any()
    assert not mask[5].any() and not mask[:, 5].any()  # the pad slot: no query, no key
    assert packed.fill == pytest.approx(5 / 6)


def test_bad_packing_requests_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"sequence 1 has 9 tokens; packing needs 1 <= length <= row_length=8"):
        pack_sequences([[1, 2], list(range(1, 10))], row_length=8)
    with pytest.raises(ValueError, match="sequence 0 has 0 tokens"):
        pack_sequences([[]], row_length=8)
    with pytest.raises(ValueError, match="every sequence index 0..1 exactly once"):
        pack_sequences([[1], [2]], row_length=8, rows=[[0]])
    with pytest.raises(ValueError, match="each as long as its input_ids"):
        pack_sequences([[1, 2]], row_length=8, token_type_ids=[[0]])
