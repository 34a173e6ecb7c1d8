"""Every bad input is a ValueError naming the input and the allowed range, raised before jit.

`apply` validates before it touches the parameters, so most tests pass empty params: the error
must come from validation, never from a failed computation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax.encoder import apply, validate_inputs

B, S = 2, 5


def _ids(config, length=S):
    return np.ones((B, length), np.int32)


def _run(config, inputs, **kwargs):
    return apply({}, inputs, config=config, **kwargs)


@pytest.mark.parametrize("bad", [99, -1])
def test_token_ids_outside_vocab(tiny_config, bad):
    ids = _ids(tiny_config)
    ids[1, 3] = bad
    with pytest.raises(ValueError, match=rf"input_ids must be in \[0, 99\) \(vocab_size=99\); found {bad} at index \(1, 3\)"):
        _run(tiny_config, {"input_ids": ids})


def test_float_token_ids(tiny_config):
    with pytest.raises(ValueError, match="input_ids must be an integer array, got dtype float32"):
        _run(tiny_config, {"input_ids": np.ones((B, S), np.float32)})


def test_token_ids_of_wrong_rank(tiny_config):
    with pytest.raises(ValueError, match=r"input_ids must have shape \[batch, length\], got \(5,\)"):
        _run(tiny_config, {"input_ids": np.ones(S, np.int32)})


def test_both_or_neither_of_ids_and_embeds(tiny_config):
    embeds = np.zeros((B, S, tiny_config.input_embedding_size), np.float32)
    with pytest.raises(ValueError, match="pass either input_ids or inputs_embeds, not both"):
        _run(tiny_config, {"input_ids": _ids(tiny_config), "inputs_embeds": embeds})
    with pytest.raises(ValueError, match=r"inputs must contain input_ids \[B, S\] or inputs_embeds \[B, S, E\]"):
        _run(tiny_config, {"attention_mask": np.ones((B, S), np.int32)})


def test_inputs_embeds_of_hidden_width_instead_of_embedding_width(tiny_config):
    embeds = np.zeros((B, S, tiny_config.hidden_size), np.float32)
    with pytest.raises(ValueError, match=r"inputs_embeds must have shape \[batch, length, input_embedding_size=18\], "
                                         r"got \(2, 5, 32\) \(inputs_embeds are word embeddings before"):
        _run(tiny_config, {"inputs_embeds": embeds})


def test_sequence_longer_than_max_position_embeddings(tiny_config):
    with pytest.raises(ValueError, match="sequence length 65 exceeds max_position_embeddings=64; truncate"):
        _run(tiny_config, {"input_ids": _ids(tiny_config, 65)})


def test_sequence_past_max_positions_counts_the_cache_offset(tiny_config):
    config = tiny_config.replace(is_decoder=True)
    L, NH, D = config.num_hidden_layers, config.num_attention_heads, config.frozen().head_dim
    # a hand-built cache longer than the position table (init_cache refuses to build one)
    cache = {"index": np.int32(60), "self_key": np.zeros((L, B, 80, NH, D), np.float32)}
    cache["self_value"] = cache["self_key"]
    with pytest.raises(ValueError, match="sequence length 5 \\+ 60 cached positions exceeds max_position_embeddings=64"):
        validate_inputs({"input_ids": _ids(config)}, config, cache=cache)


def test_token_type_ids_outside_type_vocab(tiny_config):
    types = np.zeros((B, S), np.int32)
    types[0, 0] = 16
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 16\) \(type_vocab_size=16\); found 16"):
        _run(tiny_config, {"input_ids": _ids(tiny_config), "token_type_ids": types})


def test_float_token_type_ids(tiny_config):
    with pytest.raises(ValueError, match="token_type_ids must be an integer array, got dtype float64"):
        _run(tiny_config, {"input_ids": _ids(tiny_config), "token_type_ids": np.zeros((B, S))})


def test_position_ids_outside_table(tiny_config):
    positions = np.arange(S)[None] + 60
    with pytest.raises(ValueError, match=r"position_ids must be in \[0, 64\) \(max_position_embeddings=64\); found 64"):
        _run(tiny_config, {"input_ids": _ids(tiny_config), "position_ids": positions})


@pytest.mark.parametrize(("key", "shape", "message"), [
    ("attention_mask", (B, S + 1), r"attention_mask must have shape \[2, 5\] or \[2, 5, 5\], got \(2, 6\)"),
    ("attention_mask", (B + 1, S), r"attention_mask must have shape \[2, 5\] or \[2, 5, 5\], got \(3, 5\)"),
    ("token_type_ids", (B, S - 1), r"token_type_ids must have shape \[2, 5\] like the inputs, got \(2, 4\)"),
    ("position_ids", (B, S + 2), r"position_ids must have shape \[2 or 1, 5\], got \(2, 7\)"),
])
def test_mismatched_shapes(tiny_config, key, shape, message):
    with pytest.raises(ValueError, match=message):
        _run(tiny_config, {"input_ids": _ids(tiny_config), key: np.zeros(shape, np.int32)})


def test_attention_mask_that_is_not_zero_one(tiny_config):
    mask = np.full((B, S), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"attention_mask must hold only 0 \(masked\) and 1 \(attend\); found values \[0.5\]"):
        _run(tiny_config, {"input_ids": _ids(tiny_config), "attention_mask": mask})


def test_encoder_states_for_a_decoder_without_cross_attention(tiny_config):
    config = tiny_config.replace(is_decoder=True)
    states = np.zeros((B, 3, config.hidden_size), np.float32)
    with pytest.raises(ValueError, match="this decoder has no cross-attention layers: build it with "
                                         "config.add_cross_attention=True"):
        _run(config, {"input_ids": _ids(config)}, encoder_hidden_states=states)


def test_encoder_states_and_mask_of_wrong_shape(tiny_decoder_config):
    config = tiny_decoder_config
    with pytest.raises(ValueError, match=r"encoder_hidden_states must have shape \[2, encoder_length, hidden_size=32\], "
                                         r"got \(2, 3, 18\)"):
        _run(config, {"input_ids": _ids(config)}, encoder_hidden_states=np.zeros((B, 3, 18), np.float32))
    states = np.zeros((B, 3, config.hidden_size), np.float32)
    with pytest.raises(ValueError, match=r"encoder_attention_mask must have shape \[2, encoder_length=3\]"):
        _run(config, {"input_ids": _ids(config)}, encoder_hidden_states=states,
             encoder_attention_mask=np.ones((B, 4), np.int32))


def test_cache_in_encoder_mode_and_mismatched_cache_batch(tiny_config):
    from rembert_jax.encoder import init_cache

    decoder = tiny_config.replace(is_decoder=True)
    cache = init_cache(decoder, 1, 8)
    with pytest.raises(ValueError, match=r"a cache can only be used in decoder mode \(config.is_decoder=True\)"):
        _run(tiny_config, {"input_ids": _ids(tiny_config)}, cache=cache)
    with pytest.raises(ValueError, match="cache was built for batch 1, inputs have batch 2"):
        _run(decoder, {"input_ids": _ids(decoder)}, cache=cache)


def test_mask_with_a_cache_covers_past_and_current_positions(tiny_config):
    from rembert_jax.encoder import init_cache

    config = tiny_config.replace(is_decoder=True)
    cache = init_cache(config, B, 8)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \[2, 5\] or \[2, 8\] \(past \+ current "):
        _run(config, {"input_ids": _ids(config), "attention_mask": np.ones((B, 6), np.int32)}, cache=cache)


def test_unknown_attention_impl_and_remat(tiny_config):
    with pytest.raises(ValueError, match=r"attention_impl must be one of \('auto', 'xla', 'cudnn', 'splash'\), got 'flash'"):
        _run(tiny_config, {"input_ids": _ids(tiny_config)}, attention_impl="flash")
    with pytest.raises(ValueError, match=r"remat must be one of \('none', 'full', 'dots'\), got 'some'"):
        _run(tiny_config, {"input_ids": _ids(tiny_config)}, remat="some")


def test_inputs_that_are_not_a_mapping(tiny_config):
    with pytest.raises(ValueError, match="inputs must be a mapping with input_ids or inputs_embeds, got ndarray"):
        _run(tiny_config, _ids(tiny_config))


def test_values_of_traced_inputs_are_not_checked_but_shapes_are(tiny_config):
    # Under the caller's jit the ids are tracers: values can't be read, shapes still can.
    def shapes_only(ids):
        validate_inputs({"input_ids": ids}, tiny_config)
        return ids

    jax.jit(shapes_only)(jnp.full((B, S), 1000, jnp.int32))  # out of range, but not visible here
    with pytest.raises(ValueError, match="sequence length 65 exceeds max_position_embeddings=64"):
        jax.jit(shapes_only)(jnp.ones((B, 65), jnp.int32))


@pytest.mark.parametrize("key", ["input_ids", "token_type_ids", "position_ids"])
def test_boolean_ids_are_refused_like_floats(tiny_config, key):
    # PyTorch's nn.Embedding refuses bool indices; here they would silently read rows 0 and 1.
    inputs = {"input_ids": _ids(tiny_config), key: np.ones((B, S), bool)}
    with pytest.raises(ValueError, match=f"{key} must be an integer array, got dtype bool"):
        _run(tiny_config, inputs)


def test_nested_lists_run_like_arrays(tiny_config):
    from rembert_jax import init_params

    params = init_params(tiny_config, jax.random.key(0))
    ids, mask, types = [[5, 6, 7], [8, 9, 0]], [[1, 1, 1], [1, 1, 0]], [[0, 1, 1], [0, 0, 0]]
    out = apply(params, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, config=tiny_config)
    ref = apply(params, {"input_ids": np.array(ids), "attention_mask": np.array(mask),
                         "token_type_ids": np.array(types)}, config=tiny_config)
    np.testing.assert_array_equal(out["last_hidden_state"], ref["last_hidden_state"])
