"""Fused kernels (`rembert_jax.kernels`) against the XLA reference path, on CPU.

The Pallas kernels run in interpret mode here (the same kernel code a GPU/TPU compiles);
"tokamax" runs tokamax's XLA LayerNorm on CPU (its Triton kernel needs a GPU). fp32 must agree
to rounding; bf16 within issue 2's bound (0.02 of the output scale, tests/test_encoder_precision.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax import init_params, kernels
from rembert_jax.encoder import apply

BOUND = {jnp.float32: 1e-5, jnp.bfloat16: 0.02}


def _close(ours, reference, dtype):
    scale = max(float(jnp.abs(reference.astype(jnp.float32)).max()), 1e-6)
    diff = float(jnp.abs(ours.astype(jnp.float32) - reference.astype(jnp.float32)).max())
    assert diff <= BOUND[dtype] * scale, (diff, scale)


def _inputs(dtype, shape=(3, 5, 48)):  # 15 rows: not a multiple of the 8-row block
    keys = jax.random.split(jax.random.key(0), 5)
    x, r, dy = (jax.random.normal(k, shape).astype(dtype) for k in keys[:3])
    params = {"scale": 1 + 0.1 * jax.random.normal(keys[3], shape[-1:]),
              "bias": 0.1 * jax.random.normal(keys[4], shape[-1:])}
    return x, r, dy, params


@pytest.mark.parametrize("impl", ["pallas", "tokamax"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_fused_add_layer_norm_forward_and_backward_match_xla(impl, dtype):
    if impl == "tokamax":
        pytest.importorskip("tokamax")
    x, r, dy, params = _inputs(dtype)

    def run(which):
        def f(x, r, p):
            return kernels.add_layer_norm(x, r, p, 1e-12, impl=which)
        y, pullback = jax.vjp(f, x, r, params)
        return (y, *pullback(dy))

    ours, reference = run(impl), run("xla")
    assert ours[0].dtype == dtype
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(reference), strict=True):
        _close(a, b, dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_fused_bias_gelu_forward_and_backward_match_xla(dtype):
    x, _, dy, params = _inputs(dtype)

    def run(which):
        y, pullback = jax.vjp(lambda x, b: kernels.bias_gelu(x, b, impl=which), x, params["bias"])
        return (y, *pullback(dy))

    for a, b in zip(run("pallas"), run("xla"), strict=True):
        _close(a, b, dtype)


def test_the_platform_switch_selects_the_encoders_kernels(tiny_config, monkeypatch):
    params = init_params(tiny_config, jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (2, 7), 0, tiny_config.vocab_size)

    weights = jax.random.normal(jax.random.key(2), (*ids.shape, tiny_config.hidden_size))

    def loss(p):  # random weights: a sum of squares of LayerNorm outputs leaves some gradients ~0 (noise)
        return jnp.sum(apply(p, {"input_ids": ids}, config=tiny_config)["last_hidden_state"] * weights)

    jax.clear_caches()
    reference = jax.value_and_grad(loss)(params)
    monkeypatch.setitem(kernels.PLATFORM_DEFAULTS, "cpu", "pallas")
    jax.clear_caches()
    fused_jaxpr = str(jax.make_jaxpr(loss)(params))
    fused = jax.value_and_grad(loss)(params)
    jax.clear_caches()
    assert "pallas_call" in fused_jaxpr
    for a, b in zip(jax.tree_util.tree_leaves(fused), jax.tree_util.tree_leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(float(np.abs(b).max()), 1e-3))


def test_unknown_fused_implementation_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        kernels.select_fused_impl("triton", platform="gpu")
    assert kernels.select_fused_impl("auto", platform="cpu") == "xla"


def test_auto_attention_selects_splash_on_tpu_only_where_it_can_run():
    from rembert_jax.attention import select_attention_impl

    tpu = {"platform": "tpu", "dtype": jnp.bfloat16, "head_dim": 64}
    assert select_attention_impl("auto", lengths=(256, 256), **tpu) == "splash"
    assert select_attention_impl("auto", lengths=(100, 100), **tpu) == "xla"  # not whole blocks
    assert select_attention_impl("auto", lengths=(256, 256), key_padding_mask=False, **tpu) == "xla"
    assert select_attention_impl("auto", lengths=(256, 256), return_weights=True, **tpu) == "xla"
    assert select_attention_impl("auto", lengths=(256, 256), platform="cpu", dtype=jnp.float32,
                                 head_dim=64) == "xla"
    with pytest.raises(ValueError, match="multiples of 128"):
        select_attention_impl("splash", lengths=(100, 100), **tpu)


def test_splash_attention_in_interpret_mode_matches_xla_in_the_encoder(tiny_config):
    tiny_config = tiny_config.replace(max_position_embeddings=128)  # one whole splash block
    params = init_params(tiny_config, jax.random.key(0))
    ids = jax.random.randint(jax.random.key(1), (2, 128), 0, tiny_config.vocab_size)
    mask = jnp.ones((2, 128), jnp.int32).at[1, 90:].set(0)  # padded keys: segment ids in splash
    weights = jax.random.normal(jax.random.key(2), (2, 128, tiny_config.hidden_size)) * mask[..., None]

    def loss(p, impl):
        out = apply(p, {"input_ids": ids, "attention_mask": mask}, config=tiny_config, attention_impl=impl)
        return jnp.sum(out["last_hidden_state"] * weights)  # real positions only (padding rows are garbage)

    splash = jax.value_and_grad(loss)(params, "splash")
    reference = jax.value_and_grad(loss)(params, "xla")
    for a, b in zip(jax.tree_util.tree_leaves(splash), jax.tree_util.tree_leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(float(np.abs(b).max()), 1e-3))
