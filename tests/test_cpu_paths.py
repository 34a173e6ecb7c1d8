"""The CPU code paths (`rembert_jax.cpu_paths`) compute what the general paths compute.

On CPU every other encoder test runs the CPU paths (unrolled layers, the gather-built embedding
gradient); these tests pin them against the general ones (lax.scan, jnp.take's scatter), which
GPUs and TPUs run, so both stay exact to each other and so to transformers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax import cpu_paths, init_params
from rembert_jax.cache import init_cache
from rembert_jax.encoder import apply


def test_take_rows_gradient_sums_repeated_ids_and_leaves_unused_rows_zero():
    table = jax.random.normal(jax.random.key(0), (50, 3))
    ids = jnp.array([[4, 9, 4], [0, 4, 49]])
    weights = jax.random.normal(jax.random.key(1), (2, 3, 3))

    def loss(take):
        return lambda t: jnp.sum(take(t, ids) * weights)

    ours = jax.jit(jax.grad(loss(cpu_paths.take_rows)))(table)
    reference = jax.grad(loss(lambda t, i: jnp.take(t, i, axis=0)))(table)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)
    assert np.all(np.asarray(ours)[[1, 2, 3, 5, 48]] == 0)
    np.testing.assert_array_equal(cpu_paths.take_rows(table, ids), jnp.take(table, ids, axis=0))


@pytest.fixture
def general_paths(monkeypatch):
    """Trace the GPU/TPU paths on this CPU (fresh traces, before and after)."""
    jax.clear_caches()
    monkeypatch.setattr(cpu_paths, "fast_cpu_paths", lambda: False)
    yield
    jax.clear_caches()


def _value_and_grads(config, params, ids):
    # random weights: a plain sum of LayerNorm outputs would have (near-)zero gradients, i.e. noise
    weights = jax.random.normal(jax.random.key(7), (2, *ids.shape, config.hidden_size))

    def loss(p):
        out = apply(p, {"input_ids": ids}, config=config, output_hidden_states=True)
        return jnp.sum(out["last_hidden_state"] * weights[0]) + jnp.sum(out["hidden_states"][1] * weights[1]), out
    (value, out), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return jax.tree_util.tree_map(np.asarray, (value, out["hidden_states"], grads))


def _both_paths(request, compute):
    assert cpu_paths.fast_cpu_paths()
    jax.clear_caches()
    cpu = compute()
    request.getfixturevalue("general_paths")
    return cpu, compute()


def test_unrolled_layers_and_gathered_embedding_gradient_match_scan_and_scatter(tiny_config, request):
    config = tiny_config.replace(vocab_size=cpu_paths.LARGE_TABLE_ROWS + 7)  # the word table takes take_rows
    params = init_params(config, jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (2, 9), 0, 40).at[0, 3].set(config.pad_token_id)
    cpu, general = _both_paths(request, lambda: _value_and_grads(config, params, ids))
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(cpu), jax.tree_util.tree_leaves(general), strict=True):
        # relative to each tensor's scale: some gradients (the key bias: softmax ignores it) are pure rounding noise
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(np.abs(b).max(), 1e-3), err_msg=str(path))
    assert np.all(cpu[2]["embeddings"]["word"][config.pad_token_id] == 0)


def test_unrolled_layers_decode_over_a_cache_like_scan(tiny_decoder_config, request):
    config = tiny_decoder_config
    params = init_params(config, jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (1, 6), 0, config.vocab_size)
    states = jax.random.normal(jax.random.key(2), (1, 4, config.hidden_size))

    def decode():
        cache = init_cache(config, 1, 8)
        first = apply(params, {"input_ids": ids[:, :5]}, config=config, encoder_hidden_states=states, cache=cache)
        second = apply(params, {"input_ids": ids[:, 5:]}, config=config, encoder_hidden_states=states,
                       cache=first["cache"])
        return np.asarray(first["last_hidden_state"]), np.asarray(second["last_hidden_state"])

    cpu, general = _both_paths(request, decode)
    for a, b in zip(cpu, general, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
