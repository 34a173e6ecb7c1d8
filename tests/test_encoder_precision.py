"""Half-precision compute stays within a stated tolerance of fp32; dropout and remat behave.

Tolerance: bf16 keeps 8 significant bits (rounding error 2^-9 ~ 0.2% per rounding) and each layer
rounds its activations about six times, so two layers should stay around 1% of the hidden-state
scale; measured ~0.7% over several seeds. The tests allow 2% (bf16) and 0.5% (fp16, 11 bits,
measured ~0.12%) of max |h| in fp32: loose enough for rounding, far below what a wrong cast or a
half-precision softmax/LayerNorm (eps=1e-12 underflows) would give.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax import init_params
from rembert_jax.encoder import apply


@pytest.fixture(scope="module")
def params(tiny_config):
    params = jax.jit(lambda key: init_params(tiny_config, key))(jax.random.key(0))
    # Non-trivial biases and LayerNorm parameters, as in hf_reference.hf_model (numpy: no compiles).
    rng = np.random.default_rng(1)
    return jax.tree_util.tree_map(lambda x: np.asarray(x) + rng.normal(0, 0.1, x.shape).astype(np.float32), params)


@pytest.fixture(scope="module")
def batch(tiny_config):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, tiny_config.vocab_size, (4, 16)).astype(np.int32)
    mask = np.ones((4, 16), np.int32)
    mask[1, 10:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize(("policy", "dtype", "relative_bound"), [("bf16", jnp.bfloat16, 0.02),
                                                                  ("fp16", jnp.float16, 0.005)])
def test_half_precision_stays_within_stated_tolerance_of_fp32(tiny_config, params, batch, policy, dtype,
                                                              relative_bound):
    ref = apply(params, batch, config=tiny_config, output_hidden_states=True)
    out = apply(params, batch, config=tiny_config, policy=policy, output_hidden_states=True)
    assert out["last_hidden_state"].dtype == dtype and out["pooler_output"].dtype == dtype
    scale = float(jnp.abs(ref["last_hidden_state"]).max())
    for ours, theirs in zip(out["hidden_states"], ref["hidden_states"], strict=True):
        diff = float(jnp.abs(ours.astype(jnp.float32) - theirs).max())
        assert diff <= relative_bound * scale, (diff, scale)


def test_dropout_needs_train_and_rng(tiny_config, params, batch):
    config = tiny_config.replace(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    rng = jax.random.key(3)
    evaluated = apply(params, batch, config=config)["last_hidden_state"]
    np.testing.assert_array_equal(apply(params, batch, config=config, train=True)["last_hidden_state"], evaluated)
    np.testing.assert_array_equal(apply(params, batch, config=config, rng=rng)["last_hidden_state"], evaluated)
    dropped = apply(params, batch, config=config, train=True, rng=rng)["last_hidden_state"]
    assert float(jnp.abs(dropped - evaluated).max()) > 1e-2
    again = apply(params, batch, config=config, train=True, rng=rng)["last_hidden_state"]
    np.testing.assert_array_equal(dropped, again)  # a given rng is reproducible


def test_dropout_masks_differ_between_layers(tiny_config, params, batch):
    # Probabilities of every layer with the same rng must not share one dropout pattern.
    config = tiny_config.replace(attention_probs_dropout_prob=0.5)
    out = apply(params, batch, config=config, train=True, rng=jax.random.key(4), output_attentions=True)
    zeros = [np.asarray(a) == 0 for a in out["attentions"]]
    assert zeros[0].any() and not np.array_equal(zeros[0], zeros[1])


def _loss(params, batch, config, remat):
    return jnp.sum(apply(params, batch, config=config, remat=remat)["last_hidden_state"] ** 2)


@pytest.mark.parametrize("remat", ["full", "dots"])
def test_remat_wraps_each_layer_in_a_checkpoint(tiny_config, params, batch, remat):
    def has_checkpoint(remat):
        jaxpr = jax.make_jaxpr(jax.grad(_loss), static_argnums=(2, 3))(params, batch, tiny_config.frozen(), remat)
        return "checkpoint" in str(jaxpr) or "remat" in str(jaxpr)

    assert has_checkpoint(remat) and not has_checkpoint("none")


def test_remat_changes_neither_outputs_nor_gradients(tiny_config, params, batch):
    grad = jax.jit(jax.value_and_grad(_loss), static_argnums=(2, 3))
    config = tiny_config.frozen()  # a static jit argument must be hashable: the frozen form
    value, grads = grad(params, batch, config, "none")
    value_r, grads_r = grad(params, batch, config, "dots")
    np.testing.assert_allclose(value_r, value, rtol=1e-6)
    scale = max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(grads))
    for g, g_r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads_r), strict=True):
        # recomputation reorders float sums: compare relative to the gradients' scale
        np.testing.assert_allclose(g_r, g, rtol=0, atol=1e-6 * scale)
