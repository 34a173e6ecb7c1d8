"""The attention function, its implementation choice, and the numerical layers (LayerNorm, GELU)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax.attention import dot_product_attention, select_attention_impl
from rembert_jax.layers import activation, layer_norm


@pytest.mark.parametrize(("platform", "dtype", "flags", "expected"), [
    ("gpu", jnp.bfloat16, {}, "cudnn"),
    ("gpu", jnp.float16, {}, "cudnn"),
    ("gpu", jnp.float32, {}, "xla"),  # cuDNN attention takes half precision only
    ("cpu", jnp.bfloat16, {}, "xla"),
    ("tpu", jnp.bfloat16, {}, "xla"),
    ("gpu", jnp.bfloat16, {"return_weights": True}, "xla"),  # the fused kernel has no probabilities
    ("gpu", jnp.bfloat16, {"dropout": True}, "xla"),
    ("gpu", jnp.bfloat16, {"head_dim": 12}, "xla"),
    ("gpu", jnp.bfloat16, {"kv_cache": True}, "xla"),  # decode steps stay on the XLA path
])
def test_auto_picks_cudnn_only_for_half_precision_on_gpu_without_weights_or_dropout(platform, dtype, flags,
                                                                                     expected):
    flags = {"head_dim": 64, **flags}
    assert select_attention_impl("auto", platform=platform, dtype=dtype, **flags) == expected


def test_explicit_choices_are_honoured_or_refused_with_the_reason():
    assert select_attention_impl("xla", platform="gpu", dtype=jnp.bfloat16, head_dim=64) == "xla"
    assert select_attention_impl("cudnn", platform="gpu", dtype=jnp.bfloat16, head_dim=64) == "cudnn"
    with pytest.raises(ValueError, match=r"attention_impl='cudnn' is not possible here: it needs an NVIDIA GPU "
                                         r"\(backend is 'cpu'\); it takes bfloat16/float16 only"):
        select_attention_impl("cudnn", platform="cpu", dtype=jnp.float32, head_dim=64)
    with pytest.raises(ValueError, match="attention_impl must be one of"):
        select_attention_impl("flash", platform="gpu", dtype=jnp.bfloat16, head_dim=64)


def test_apply_refuses_cudnn_on_cpu(tiny_config):
    from rembert_jax import init_params
    from rembert_jax.encoder import apply

    shapes = jax.eval_shape(lambda k: init_params(tiny_config, k), jax.random.key(0))
    with pytest.raises(ValueError, match="attention_impl='cudnn' is not possible here"):  # raised while tracing
        jax.eval_shape(lambda p: apply(p, {"input_ids": np.ones((1, 4), np.int32)}, config=tiny_config,
                                       policy="bf16", attention_impl="cudnn"), shapes)


def _reference_attention(q, k, v, mask):
    """float64 numpy: softmax((q k^T)/sqrt(D) + (1 - mask) * finfo(float32).min) v."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    scores = np.einsum("bsnd,bknd->bnsk", q, k) / math.sqrt(q.shape[-1])
    scores = scores + (1.0 - mask) * np.finfo(np.float32).min
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return np.einsum("bnsk,bknd->bsnd", probs, v), probs


def test_xla_attention_matches_the_written_out_formula():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 5, 3, 8)).astype(np.float32) for _ in range(3))
    mask = rng.integers(0, 2, (2, 1, 5, 5)).astype(bool)
    mask[..., 0] = True
    out, probs = dot_product_attention(q, k, v, mask, impl="xla", return_weights=True)
    ref_out, ref_probs = _reference_attention(q, k, v, mask)
    np.testing.assert_allclose(out, ref_out, atol=1e-6)
    np.testing.assert_allclose(probs, ref_probs, atol=1e-6)


def test_keys_past_kv_length_are_never_attended_even_by_a_fully_masked_row():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(1, 2, 1, 8)).astype(np.float32)
    k, v = (rng.normal(size=(1, 6, 1, 8)).astype(np.float32) for _ in range(2))
    mask = np.ones((1, 1, 2, 6), bool)
    mask[0, 0, 1] = False  # second query sees nothing: uniform over the 4 existing keys
    _, probs = dot_product_attention(q, k, v, mask, kv_length=jnp.array(4), impl="xla", return_weights=True)
    probs = np.asarray(probs)
    assert not probs[..., 4:].any()
    np.testing.assert_allclose(probs[0, 0, 1, :4], 0.25, rtol=1e-6)


def test_probability_dropout_is_inverted_and_reproducible():
    q = k = v = jnp.ones((1, 4, 1, 8))
    kwargs = {"impl": "xla", "dropout_rate": 0.5, "dropout_rng": jax.random.key(0), "return_weights": True}
    _, probs = dot_product_attention(q, k, v, **kwargs)
    assert set(np.unique(np.asarray(probs)).tolist()) <= {0.0, 0.5}  # 0.25 kept -> 0.25 / (1 - 0.5)
    np.testing.assert_array_equal(dot_product_attention(q, k, v, **kwargs)[1], probs)


def test_layer_norm_uses_two_pass_fp32_statistics():
    # A large offset breaks the one-pass E[x^2] - E[x]^2 variance in float32.
    x = (1e4 + np.random.default_rng(2).normal(size=(3, 64))).astype(np.float32)
    params = {"scale": np.full(64, 1.5, np.float32), "bias": np.full(64, 0.25, np.float32)}
    ours = np.asarray(layer_norm(jnp.asarray(x), params, 1e-12))
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-12) * 1.5 + 0.25
    np.testing.assert_allclose(ours, ref, atol=2e-3)  # float32 input rounding at 1e4 is ~1e-3


def test_layer_norm_of_a_constant_half_precision_vector_is_finite():
    # eps=1e-12 underflows to 0 in fp16: statistics must stay in float32.
    x = jnp.full((2, 16), 3.0, jnp.float16)
    out = layer_norm(x, {"scale": jnp.ones(16), "bias": jnp.zeros(16)}, 1e-12)
    assert out.dtype == jnp.float16 and np.isfinite(np.asarray(out, np.float32)).all()


def test_gelu_is_the_exact_erf_form():
    x = np.linspace(-5, 5, 101).astype(np.float32)
    exact = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(activation("gelu")(jnp.asarray(x)), exact, atol=1e-6)
    assert float(jnp.abs(activation("gelu_new")(jnp.asarray(x)) - exact).max()) > 1e-4  # the tanh variant differs
