"""Scaled dot-product attention with interchangeable implementations.

`dot_product_attention` is the one attention function of the encoder:

- "xla": the reference path, written out like transformers' eager attention:
  scores = (q @ k^T) / sqrt(D) + mask, softmax in float32, dropout on the probabilities,
  probabilities @ v. It can return the attention probabilities and apply dropout. Masked
  entries get float32's minimum (PyTorch v5), so a fully masked query row attends uniformly.
- "cudnn": `jax.nn.dot_product_attention(..., implementation="cudnn")`, the fused kernel for
  bf16/fp16 on NVIDIA GPUs. No probabilities, no dropout; a fully masked row is not guaranteed
  to be uniform (it is garbage either way: such rows are padding). See `fused_attention` for
  how our boolean masks become arguments cuDNN accepts: encoder padding as key lengths (right
  padding) or a broadcast [B, 1, S, K] mask; the decoder's causal & padding mask broadcast to
  [B, 1, S, K] too (a legal cuDNN bias, though not its faster built-in causal mode).
- "splash": jax's Pallas splash attention (`jax.experimental.pallas.ops.tpu.splash_attention`),
  the TPU kernel; interpret mode on CPU (tests). No probabilities, dropout or KV cache; masks
  must be key padding ([B, 1, 1, K], passed as segment ids: every query sees the same keys as in
  the XLA path) and both lengths multiples of 128 (its blocks).
- "auto": `select_attention_impl` picks cuDNN for bf16/fp16 on GPU and splash on TPU when
  neither probabilities nor dropout are requested and the shapes suit the kernel, XLA otherwise.

Layout (jax.nn's): query [B, S, NH, D], key/value [B, K, NH, D], output [B, S, NH, D],
probabilities [B, NH, S, K].
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

IMPLEMENTATIONS = ("auto", "xla", "cudnn", "splash")
SPLASH_BLOCK = 128  # splash attention's query/key block: lengths must be multiples of it
_HALF = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


def select_attention_impl(requested: str, *, platform: str, dtype, head_dim: int,
                          return_weights: bool = False, dropout: bool = False, kv_cache: bool = False,
                          masked_odd_length: bool = False, lengths: tuple[int, int] | None = None,
                          key_padding_mask: bool = True) -> str:
    """Decide "xla", "cudnn" or "splash" from the request and the circumstances (pure, testable anywhere).

    `platform` is `jax.default_backend()` ("cpu", "gpu", "tpu"). An explicit "cudnn" that can't
    run raises a ValueError saying why instead of silently falling back. "auto" keeps decoding
    over a KV cache (`kv_cache`) on XLA: a step has one or a few queries, where the fused kernel
    gains nothing; an explicit "cudnn" is still honoured there. "auto" also stays on XLA for a
    masked attention with an odd query or key length (`masked_odd_length`): cuDNN's backward
    pass with a mask (a bias to cuDNN) needs even lengths, and whether a gradient will be taken
    is unknown here. An explicit "cudnn" is honoured (it works for inference). "splash" needs
    (query, key) `lengths` that are multiples of 128 and a key-padding mask (or none); "auto"
    picks it on TPU only.
    """
    if requested not in IMPLEMENTATIONS:
        raise ValueError(f"attention_impl must be one of {IMPLEMENTATIONS}, got {requested!r}")
    if requested == "xla":
        return "xla"
    if requested == "splash" or (requested == "auto" and platform == "tpu"):
        reasons = [why for bad, why in [
            (return_weights, "it cannot return attention probabilities (output_attentions=True)"),
            (dropout, "it has no attention-probability dropout"),
            (kv_cache, "it does not read a KV cache"),
            (not key_padding_mask, "it takes key-padding masks only (no causal, packed or 3-D masks)"),
            (lengths is None or any(n % SPLASH_BLOCK for n in lengths),
             f"query and key lengths {lengths} must be multiples of {SPLASH_BLOCK}")] if bad]
        if requested == "splash" and reasons:
            raise ValueError("attention_impl='splash' is not possible here: " + "; ".join(reasons)
                             + ". Use attention_impl='auto' or 'xla'.")
        return "xla" if reasons else "splash"
    reasons = []
    if platform not in ("gpu", "cuda"):
        reasons.append(f"it needs an NVIDIA GPU (backend is {platform!r})")
    if jnp.dtype(dtype) not in _HALF:
        reasons.append(f"it takes bfloat16/float16 only (compute dtype is {jnp.dtype(dtype)})")
    if return_weights:
        reasons.append("it cannot return attention probabilities (output_attentions=True)")
    if dropout:
        reasons.append("it has no attention-probability dropout")
    if head_dim % 8 or head_dim > 128:
        reasons.append(f"head size {head_dim} is not a multiple of 8 up to 128")
    if requested == "cudnn" and reasons:
        raise ValueError("attention_impl='cudnn' is not possible here: " + "; ".join(reasons)
                         + ". Use attention_impl='auto' or 'xla'.")
    return "xla" if reasons or (requested == "auto" and (kv_cache or masked_odd_length)) else "cudnn"


def dot_product_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None,
                          *, kv_length: jax.Array | None = None, impl: str = "auto", dropout_rate: float = 0.0,
                          dropout_rng: jax.Array | None = None, return_weights: bool = False
                          ) -> tuple[jax.Array, jax.Array | None]:
    """Multi-head attention of `query` over `key`/`value`.

    Args:
      query: [B, S, NH, D]; key, value: [B, K, NH, D].
      mask: boolean, broadcastable to [B, NH, S, K]; True = attend. Masked scores get float32's
        minimum added (transformers' eager semantics).
      kv_length: int [B] (or scalar): only keys [0, kv_length) exist (a fixed-size KV cache's
        written part). Keys beyond it get -inf, so even a fully masked row never sees them.
      impl: "auto" | "xla" | "cudnn" (see `select_attention_impl`).
      dropout_rate, dropout_rng: dropout on the probabilities, only when the rng is given.
      return_weights: also return the probabilities [B, NH, S, K] (in the query dtype).

    Returns:
      (context [B, S, NH, D] in the query dtype, probabilities or None).
    """
    use_dropout = dropout_rng is not None and dropout_rate > 0.0
    odd = query.shape[1] % 2 or key.shape[1] % 2
    impl = select_attention_impl(impl, platform=jax.default_backend(), dtype=query.dtype,
                                 head_dim=query.shape[-1], return_weights=return_weights, dropout=use_dropout,
                                 kv_cache=kv_length is not None, masked_odd_length=bool(odd and mask is not None),
                                 lengths=(query.shape[1], key.shape[1]),
                                 key_padding_mask=mask is None or (mask.ndim == 4 and mask.shape[1:3] == (1, 1)))
    if impl == "splash":
        return splash_attention(query, key, value, mask), None
    if impl == "cudnn":
        return fused_attention(query, key, value, mask, kv_length=kv_length), None
    return _xla_attention(query, key, value, mask, kv_length, dropout_rate if use_dropout else 0.0,
                          dropout_rng, return_weights)


def fused_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None, *,
                    kv_length: jax.Array | None = None, implementation: str = "cudnn") -> jax.Array:
    """`jax.nn.dot_product_attention` with our boolean mask turned into arguments cuDNN accepts.

    cuDNN takes a mask (as an additive bias) only with the full query and key lengths,
    [B or 1, NH or 1, S, K]; the encoder's padding mask is [B, 1, 1, K]. So:

    - a key-padding mask [B, 1, 1, K] (no kv_length): when every row is a prefix (right
      padding, the tokenizer's default), the fast path passes only `key_value_seq_lengths`
      (no bias to read, no bias gradient to write); otherwise (left padding, holes) the mask is
      broadcast to [B, 1, S, K]. Which one runs is decided on the device (`lax.cond`, both
      branches fused), so nothing syncs with the host.
    - any other mask (causal & padding, 3-D, cache slots) is broadcast to [B, 1, S, K].
    - `kv_length` (a KV cache's written part) becomes `key_value_seq_lengths`.

    `implementation="xla"` runs the same arguments through jax's XLA path: that is how the
    preparation is tested on a CPU. query [B, S, NH, D]; key, value [B, K, NH, D] -> [B, S, NH, D].
    """
    batch, q_len, k_len = query.shape[0], query.shape[1], key.shape[1]
    attend = partial(jax.nn.dot_product_attention, query, key, value, implementation=implementation)
    if mask is not None and kv_length is None and mask.shape[1:3] == (1, 1):
        lengths, right_padded = padding_lengths(mask.reshape(mask.shape[0], k_len))  # [B], ()
        lengths = jnp.broadcast_to(lengths, (batch,))
        full = broadcast_mask(mask, batch, q_len, k_len)
        return jax.lax.cond(right_padded, lambda: attend(key_value_seq_lengths=lengths), lambda: attend(mask=full))
    lengths = None
    if kv_length is not None:
        lengths = jnp.broadcast_to(jnp.asarray(kv_length, jnp.int32), (batch,))
    full = None if mask is None else broadcast_mask(mask, batch, q_len, k_len)
    return attend(mask=full, key_value_seq_lengths=lengths)


def splash_attention(query: jax.Array, key: jax.Array, value: jax.Array, mask: jax.Array | None = None
                     ) -> jax.Array:
    """Splash attention with a key-padding `mask` [B, 1, 1, K] (or None) as segment ids: every
    query is segment 0, masked keys segment 1, so each query sees exactly the unmasked keys (a
    row with none left is padding: garbage either way). query [B, S, NH, D] -> [B, S, NH, D]."""
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as splash
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as splash_mask

    batch, q_len, heads, head_dim = query.shape
    k_len = key.shape[1]
    block = SPLASH_BLOCK
    sizes = splash.BlockSizes(block_q=block, block_kv=block, block_kv_compute=block, block_q_dkv=block,
                              block_kv_dkv=block, block_kv_dkv_compute=block, block_q_dq=block, block_kv_dq=block)
    kernel = splash.make_splash_mha(splash_mask.MultiHeadMask([splash_mask.FullMask((q_len, k_len))] * heads),
                                    block_sizes=sizes, head_shards=1, q_seq_shards=1,
                                    interpret=jax.default_backend() == "cpu")
    key_seg = (jnp.zeros((batch, k_len), jnp.int32) if mask is None
               else jnp.where(jnp.broadcast_to(mask.reshape(-1, k_len), (batch, k_len)), 0, 1).astype(jnp.int32))
    q_seg = jnp.zeros((batch, q_len), jnp.int32)
    scale = jnp.asarray(1 / math.sqrt(head_dim), query.dtype)

    def one(q, k, v, qs, ks):  # [S, NH, D] -> kernel layout [NH, S, D]
        out = kernel((q * scale).swapaxes(0, 1), k.swapaxes(0, 1), v.swapaxes(0, 1),
                     segment_ids=splash.SegmentIds(q=qs, kv=ks))
        return out.swapaxes(0, 1)

    return jax.vmap(one)(query, key, value, q_seg, key_seg).astype(query.dtype)


def padding_lengths(mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """For a key-padding mask [B, K] (True = attend): (lengths int32 [B], every row is a prefix).

    A row is a prefix when it is `arange(K) < length` (right padding). A row with no key at all
    gets length 1: cuDNN's padding mask with no key is undefined, and such a row is padding whose
    output is garbage either way (XLA attends uniformly, this attends to the first key).
    """
    mask = mask != 0
    count = jnp.sum(mask, axis=-1, dtype=jnp.int32)  # [B]
    prefix = jnp.arange(mask.shape[-1]) < count[:, None]  # [B, K]
    return jnp.maximum(count, 1), jnp.all(prefix == mask)


def broadcast_mask(mask: jax.Array, batch: int, query_length: int, key_length: int) -> jax.Array:
    """A boolean mask broadcastable to [B, NH, S, K] -> [B, 1, S, K] (or [B, NH, S, K] if per head)."""
    mask = jnp.asarray(mask) != 0
    mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    return jnp.broadcast_to(mask, (batch, mask.shape[1], query_length, key_length))


def _xla_attention(query, key, value, mask, kv_length, dropout_rate, dropout_rng, return_weights):
    dtype = query.dtype
    scores = jnp.einsum("bsnd,bknd->bnsk", query, key,
                        preferred_element_type=jnp.float32)  # [B, NH, S, K] fp32
    scores = scores / math.sqrt(query.shape[-1])  # divided after the matmul, as the reference
    if mask is not None:
        scores = jnp.where(mask, scores, scores + jnp.finfo(jnp.float32).min)
    if kv_length is not None:
        k_pos = jnp.arange(key.shape[1])
        exists = k_pos[None, :] < jnp.reshape(jnp.asarray(kv_length), (-1, 1))  # [B or 1, K]
        scores = jnp.where(exists[:, None, None, :], scores, -jnp.inf)
    probs = jax.nn.softmax(scores, axis=-1)  # fp32
    if dropout_rate > 0.0:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    probs = probs.astype(dtype)
    context = jnp.einsum("bnsk,bknd->bsnd", probs, value)  # [B, S, NH, D]
    return context, (probs if return_weights else None)
