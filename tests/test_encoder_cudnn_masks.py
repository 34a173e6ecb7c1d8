"""How our boolean masks become cuDNN's arguments (`attention.fused_attention`), checked on a CPU.

cuDNN itself needs a GPU; the argument preparation does not. `fused_attention(...,
implementation="xla")` hands exactly the arguments cuDNN would get (lengths or a full
[B, 1, S, K] mask, chosen by the same `lax.cond`) to jax's XLA attention, which is compared with
our reference XLA path. Fully masked rows are padding (garbage on either path) and are excluded.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from rembert_jax.attention import (
    broadcast_mask,
    dot_product_attention,
    fused_attention,
    padding_lengths,
    select_attention_impl,
)

B, S, NH, D = 3, 6, 2, 8


def _qkv(k_len: int = S, seed: int = 0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, S, NH, D)).astype(np.float32)
    k, v = (rng.normal(size=(B, k_len, NH, D)).astype(np.float32) for _ in range(2))
    return q, k, v


def _right_padded(k_len: int = S) -> np.ndarray:
    return np.arange(k_len)[None, :] < np.array([[k_len], [4], [1]])  # [B, K]


def _left_padded(k_len: int = S) -> np.ndarray:
    return _right_padded(k_len)[:, ::-1]


def _check_same_as_reference(q, k, v, mask, kv_length=None):
    ours, _ = dot_product_attention(q, k, v, mask, kv_length=kv_length, impl="xla")
    fused = fused_attention(q, k, v, mask, kv_length=kv_length, implementation="xla")
    assert fused.shape == ours.shape == q.shape
    np.testing.assert_allclose(fused, ours, atol=1e-5)


def test_padding_lengths_count_keys_and_see_right_padding():
    lengths, prefix = padding_lengths(jnp.asarray(_right_padded()))
    np.testing.assert_array_equal(lengths, [S, 4, 1])
    assert bool(prefix)
    lengths, prefix = padding_lengths(jnp.asarray(_left_padded()))
    np.testing.assert_array_equal(lengths, [S, 4, 1])
    assert not bool(prefix)
    holes = np.ones((B, S), bool)
    holes[1, 2] = False
    assert not bool(padding_lengths(jnp.asarray(holes))[1])


def test_a_row_without_keys_counts_as_right_padding_with_one_key():
    # cuDNN's padding mask with zero keys is undefined; such a row is padding either way.
    mask = np.ones((B, S), bool)
    mask[2] = False
    lengths, prefix = padding_lengths(jnp.asarray(mask))
    np.testing.assert_array_equal(lengths, [S, S, 1])
    assert bool(prefix)


def test_broadcast_mask_gives_full_query_and_key_lengths():
    pad = _right_padded()[:, None, None, :]  # [B, 1, 1, K]
    full = broadcast_mask(jnp.asarray(pad), B, S, S)
    assert full.shape == (B, 1, S, S) and full.dtype == jnp.bool_
    np.testing.assert_array_equal(full, np.broadcast_to(pad, (B, 1, S, S)))
    causal = np.tril(np.ones((S, S), bool))[None, None]  # [1, 1, S, K]
    assert broadcast_mask(jnp.asarray(causal), B, S, S).shape == (B, 1, S, S)


@pytest.mark.parametrize("padding", [_right_padded, _left_padded], ids=["right", "left"])
def test_key_padding_mask_matches_the_reference(padding):
    q, k, v = _qkv()
    _check_same_as_reference(q, k, v, padding()[:, None, None, :])


def test_cross_attention_padding_with_more_keys_than_queries_matches_the_reference():
    q, k, v = _qkv(k_len=10, seed=1)
    for mask in (_right_padded(10), _left_padded(10)):
        _check_same_as_reference(q, k, v, mask[:, None, None, :])


def test_three_d_mask_matches_the_reference():
    q, k, v = _qkv(seed=2)
    mask = np.random.default_rng(3).integers(0, 2, (B, 1, S, S)).astype(bool)
    mask[..., 0] = True  # no fully masked query row
    _check_same_as_reference(q, k, v, mask)


def test_causal_and_padding_mask_matches_the_reference():
    q, k, v = _qkv(seed=4)
    mask = np.tril(np.ones((S, S), bool))[None, None] & _right_padded()[:, None, None, :]  # [B, 1, S, K]
    mask[2, 0, :, 0] = True  # row 2 attends key 0 only (length 1): no fully masked query row
    _check_same_as_reference(q, k, v, mask)


def test_cache_slots_past_kv_length_become_key_lengths():
    q, k, v = _qkv(k_len=8, seed=5)
    mask = np.ones((B, 1, S, 8), bool)  # all slots "attendable": only kv_length hides slots 6, 7
    _check_same_as_reference(q, k, v, mask, kv_length=jnp.array(S))


def test_no_mask_matches_the_reference():
    q, k, v = _qkv(seed=6)
    _check_same_as_reference(q, k, v, None)


def test_auto_keeps_masked_odd_lengths_on_xla_but_explicit_cudnn_is_honoured():
    # cuDNN's backward with a mask (a bias) needs even lengths.
    kwargs = {"platform": "gpu", "dtype": jnp.bfloat16, "head_dim": 64, "masked_odd_length": True}
    assert select_attention_impl("auto", **kwargs) == "xla"
    assert select_attention_impl("cudnn", **kwargs) == "cudnn"
