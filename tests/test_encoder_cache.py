"""Incremental decoding with the fixed-size KV cache equals full recomputation (and transformers)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hf_reference import hf_model, to_numpy

from rembert_jax.encoder import apply, init_cache

TOL = 1e-5
B, S, MAX_LEN = 2, 8, 12
CHUNKS = (3, 1, 1, 3)  # a multi-token prompt, single-token steps, another chunk


@pytest.fixture(scope="module")
def decoder(tiny_decoder_config, tmp_path_factory):
    from rembert_jax.convert import load_pytorch

    model = hf_model(tiny_decoder_config, seed=2)
    directory = tmp_path_factory.mktemp("decoder")
    model.save_pretrained(directory)
    config, params = load_pytorch(directory)
    return model, config, params


def _data(config):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, config.vocab_size, (B, S)).astype(np.int64)
    mask = np.ones((B, S), np.int64)
    mask[1, :2] = 0  # left padding in the second row
    states = rng.normal(size=(B, 5, config.hidden_size)).astype(np.float32)
    enc_mask = np.ones((B, 5), np.int64)
    enc_mask[0, 4:] = 0
    return ids, mask, states, enc_mask


def _decode(params, config, ids, mask, states, enc_mask, *, fixed_width_mask: bool):
    def step(p, inputs, cache, states):  # apply jits itself: the cache index is traced
        return apply(p, inputs, config=config, cache=cache, encoder_hidden_states=states,
                     encoder_attention_mask=enc_mask)

    cache = init_cache(config, B, MAX_LEN)
    pieces, start = [], 0
    for n in CHUNKS:
        stop = start + n
        if fixed_width_mask:  # every cache slot: one shape for all steps
            step_mask = np.zeros((B, MAX_LEN), np.int64)
            step_mask[:, :stop] = mask[:, :stop]
        else:  # transformers' convention: past + current positions
            step_mask = mask[:, :stop]
        out = step(params, {"input_ids": ids[:, start:stop], "attention_mask": step_mask}, cache,
                   states if start == 0 else None)
        cache = out["cache"]
        pieces.append(np.asarray(out["last_hidden_state"]))
        start = stop
    assert int(cache["index"]) == S
    return np.concatenate(pieces, axis=1), cache


@pytest.mark.parametrize("fixed_width_mask", [False, True], ids=["mask_past_plus_current", "mask_max_length"])
def test_incremental_decoding_equals_full_recomputation_and_transformers(decoder, fixed_width_mask):
    model, config, params = decoder
    ids, mask, states, enc_mask = _data(config)
    full = apply(params, {"input_ids": ids, "attention_mask": mask}, config=config,
                 encoder_hidden_states=states, encoder_attention_mask=enc_mask)["last_hidden_state"]
    incremental, _ = _decode(params, config, ids, mask, states, enc_mask, fixed_width_mask=fixed_width_mask)
    # A padded query whose causal window is all padding has no key to attend to; the reference
    # then spreads it uniformly over all keys present, which differ between a full pass and a
    # step. Such rows are garbage in transformers too and never reach real tokens: compare the rest.
    real = mask.astype(bool)
    np.testing.assert_allclose(incremental[real], np.asarray(full)[real], rtol=0, atol=TOL)

    import torch

    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                    encoder_hidden_states=torch.from_numpy(states),
                    encoder_attention_mask=torch.from_numpy(enc_mask), use_cache=False)
    np.testing.assert_allclose(incremental[real], to_numpy(ref.last_hidden_state)[real], rtol=0, atol=TOL)


def test_cache_holds_the_keys_of_a_single_full_pass(decoder):
    _, config, params = decoder
    ids, mask, states, enc_mask = _data(config)
    _, cache = _decode(params, config, ids, mask, states, enc_mask, fixed_width_mask=True)
    one = apply(params, {"input_ids": ids, "attention_mask": mask}, config=config, cache=init_cache(config, B, MAX_LEN),
                encoder_hidden_states=states, encoder_attention_mask=enc_mask)["cache"]
    L, NH, D = config.num_hidden_layers, config.num_attention_heads, config.frozen().head_dim
    assert cache["self_key"].shape == (L, B, MAX_LEN, NH, D)
    assert cache["cross_key"].shape == (L, B, 5, NH, D)
    real = mask.astype(bool)  # keys of padded positions differ (see above) and are never attended
    for name in ("self_key", "self_value"):
        np.testing.assert_allclose(np.asarray(cache[name])[:, :, :S][:, real], np.asarray(one[name])[:, :, :S][:, real],
                                   rtol=0, atol=TOL)
    for name in ("cross_key", "cross_value"):
        np.testing.assert_allclose(np.asarray(cache[name]), np.asarray(one[name]), rtol=0, atol=TOL)
    assert not np.asarray(cache["self_key"])[:, :, S:].any()  # slots past the index stay unwritten


def test_single_token_steps_with_fixed_width_mask_trace_once(decoder):
    _, config, params = decoder
    config = config.replace(add_cross_attention=False)  # cross-attention weights go unused
    traces = []

    @jax.jit
    def step(cache, token, mask):
        traces.append(1)
        return apply(params, {"input_ids": token, "attention_mask": mask}, config=config, cache=cache)["cache"]

    cache = init_cache(config, 1, 6)
    mask = np.ones((1, 6), np.int32)
    for t in range(4):
        cache = step(cache, np.array([[t + 1]]), mask)
    assert len(traces) == 1 and int(cache["index"]) == 4


def test_cache_overflow_is_an_error_before_jit_and_nan_under_jit(decoder):
    _, config, params = decoder
    config = config.replace(add_cross_attention=False)
    cache = init_cache(config, 1, 4)
    cache = apply(params, {"input_ids": np.ones((1, 3), np.int32)}, config=config, cache=cache)["cache"]
    with pytest.raises(ValueError, match=r"cache overflow: 3 cached \+ 2 new positions exceed the cache's max_length=4"):
        apply(params, {"input_ids": np.ones((1, 2), np.int32)}, config=config, cache=cache)
    jitted = jax.jit(lambda c: apply(params, {"input_ids": np.ones((1, 2), np.int32)}, config=config, cache=c))
    assert np.isnan(np.asarray(jitted(cache)["last_hidden_state"])).all()


def test_init_cache_rejects_encoder_configs_and_oversized_lengths(tiny_config):
    with pytest.raises(ValueError, match=r"needs a decoder config \(config.is_decoder=True\)"):
        init_cache(tiny_config, 1, 4)
    with pytest.raises(ValueError, match="max_length=65 exceeds max_position_embeddings=64"):
        init_cache(tiny_config.replace(is_decoder=True), 1, 65)
