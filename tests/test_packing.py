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
    assert packed.inputs["segment_ids"].shape == (3, 12)
    hidden = apply(params, packed.inputs, config=tiny_config)["last_hidden_state"]  # [R, L, H]
    for seq, kinds, got in zip(sequences, types, packed.unpack(hidden), strict=True):
        alone = apply(params, {"input_ids": seq[None], "token_type_ids": kinds[None]},
                      config=tiny_config)["last_hidden_state"][0]  # [n, H]
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)


def test_rows_hold_segment_numbers_and_restarting_positions():
    packed = pack_sequences([[7, 8, 9], [4, 5]], row_length=6, pad_token_id=0)
    np.testing.assert_array_equal(packed.inputs["input_ids"], [[7, 8, 9, 4, 5, 0]])
    np.testing.assert_array_equal(packed.inputs["segment_ids"], [[1, 1, 1, 2, 2, 0]])
    np.testing.assert_array_equal(packed.inputs["position_ids"], [[0, 1, 2, 0, 1, 0]])
    np.testing.assert_array_equal(packed.inputs["attention_mask"], [[1, 1, 1, 1, 1, 0]])
    assert packed.fill == pytest.approx(5 / 6)


def test_the_encoder_masks_by_segment_and_derives_the_same_positions():
    from rembert_jax.encoder import _segment_mask, segment_positions

    segments = np.array([[1, 1, 1, 2, 2, 0]])
    np.testing.assert_array_equal(segment_positions(segments)[0, :5], [0, 1, 2, 0, 1])
    mask = np.asarray(_segment_mask(segments))[0, 0]  # [S, S]
    assert mask[0, :3].all() and not mask[0, 3:].any()  # the first sequence sees only itself
    assert mask[3, 3:5].all() and not mask[3, :3].any()
    assert not mask[:, 5].any()  # nobody attends to the pad slot


def test_packed_forward_without_explicit_positions_matches(tiny_config):
    params = init_params(tiny_config, jax.random.key(1))
    sequences = _sequences(tiny_config, seed=1)
    packed = pack_sequences(sequences, row_length=12, pad_token_id=tiny_config.pad_token_id)
    inputs = {k: v for k, v in packed.inputs.items() if k != "position_ids"}  # derived from segment_ids
    hidden = apply(params, inputs, config=tiny_config)["last_hidden_state"]
    for seq, got in zip(sequences, packed.unpack(hidden), strict=True):
        alone = apply(params, {"input_ids": seq[None]}, config=tiny_config)["last_hidden_state"][0]
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)


def test_packed_causal_decoder_matches_each_sequence_alone(tiny_decoder_config):
    config = tiny_decoder_config.replace(add_cross_attention=False)
    params = init_params(config, jax.random.key(2))
    sequences = _sequences(config, seed=2)
    packed = pack_sequences(sequences, row_length=12, pad_token_id=config.pad_token_id)
    hidden = apply(params, packed.inputs, config=config)["last_hidden_state"]  # causal & same sequence
    for seq, got in zip(sequences, packed.unpack(hidden), strict=True):
        alone = apply(params, {"input_ids": seq[None]}, config=config)["last_hidden_state"][0]
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)


def test_bad_segment_ids_are_refused_before_jit(tiny_config):
    params = init_params(tiny_config, jax.random.key(0))
    ids = np.ones((1, 4), np.int32)
    with pytest.raises(ValueError, match=r"segment_ids must have shape \[1, 4\]"):
        apply(params, {"input_ids": ids, "segment_ids": np.ones((1, 3), np.int32)}, config=tiny_config)
    with pytest.raises(ValueError, match=r"segment_ids must be in \[0, 5\)"):
        apply(params, {"input_ids": ids, "segment_ids": np.array([[1, 1, -1, 0]])}, config=tiny_config)
    from rembert_jax import init_cache

    decoder = tiny_config.replace(is_decoder=True)
    cache = init_cache(decoder, batch_size=1, max_length=8)
    with pytest.raises(ValueError, match="segment_ids \\(packed sequences\\) cannot be used with a KV cache"):
        apply(init_params(decoder, jax.random.key(0)), {"input_ids": ids, "segment_ids": np.ones((1, 4), np.int32)},
              config=decoder, cache=cache)
    with pytest.raises(ValueError, match="pass segment_ids or a 3-D attention_mask, not both"):
        apply(params, {"input_ids": ids, "segment_ids": np.ones((1, 4), np.int32),
                       "attention_mask": np.ones((1, 4, 4), np.int32)}, config=tiny_config)


def test_bad_packing_requests_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"sequence 1 has 9 tokens; packing needs 1 <= length <= row_length=8"):
        pack_sequences([[1, 2], list(range(1, 10))], row_length=8)
    with pytest.raises(ValueError, match=r"input_ids\[0\] must be a non-empty 1-D list of token ids"):
        pack_sequences([[]], row_length=8)
    with pytest.raises(ValueError, match=r"input_ids\[0\] must be a non-empty 1-D list of token ids, got shape \(\)"):
        pack_sequences([5, 6, 7], row_length=8)  # a flat list is not three sequences
    with pytest.raises(ValueError, match="sequence 0 has 0 tokens"):
        plan_rows([0], 8)
    with pytest.raises(ValueError, match="every sequence index 0..1 exactly once"):
        pack_sequences([[1], [2]], row_length=8, rows=[[0]])
    with pytest.raises(ValueError, match="each as long as its input_ids"):
        pack_sequences([[1, 2]], row_length=8, token_type_ids=[[0]])


def test_segment_ids_must_number_each_sequence_once_and_not_share_cross_attention(tiny_config):
    params = init_params(tiny_config, jax.random.key(0))
    ids = np.ones((1, 4), np.int32)
    with pytest.raises(ValueError, match="segment_ids row 0 uses a sequence number in more than one run"):
        apply(params, {"input_ids": ids, "segment_ids": np.array([[1, 1, 2, 1]])}, config=tiny_config)
    decoder = tiny_config.replace(is_decoder=True, add_cross_attention=True)
    states = np.zeros((1, 3, decoder.hidden_size), np.float32)
    with pytest.raises(ValueError, match="cannot be used with cross-attention"):
        apply(init_params(decoder, jax.random.key(0)), {"input_ids": ids, "segment_ids": np.ones((1, 4), np.int32)},
              config=decoder, encoder_hidden_states=states)


def test_a_packed_row_may_be_longer_than_the_position_table(tiny_config):
    config = tiny_config.replace(max_position_embeddings=8)
    params = init_params(config, jax.random.key(0))
    sequences = [np.arange(1, 7), np.arange(1, 8), np.arange(1, 5)]  # each fits the 8 positions, together 17
    packed = pack_sequences(sequences, row_length=17, pad_token_id=config.pad_token_id)
    inputs = {k: v for k, v in packed.inputs.items() if k != "position_ids"}
    hidden = apply(params, inputs, config=config)["last_hidden_state"]
    for seq, got in zip(sequences, packed.unpack(hidden), strict=True):
        alone = apply(params, {"input_ids": seq[None]}, config=config)["last_hidden_state"][0]
        np.testing.assert_allclose(got, alone, atol=1e-5, rtol=0)
    too_long = {"input_ids": np.ones((1, 10), np.int32), "segment_ids": np.ones((1, 10), np.int32)}
    with pytest.raises(ValueError, match="a packed sequence has 10 tokens, more than max_position_embeddings=8"):
        apply(params, too_long, config=config)
