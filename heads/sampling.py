"""Next-token choice for `generate`: transformers' logits warpers and token pick, in JAX.

The warpers run in transformers' order (temperature, then top-k, then top-p) and remove tokens
by setting their logits to -inf, with transformers' tie and boundary rules:
  - top-k keeps every token whose logit is >= the k-th largest (ties at the boundary survive);
  - top-p sorts ascending and removes the tokens whose cumulative probability is <= 1 - top_p,
    always keeping the most likely token.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_FILTERED = -jnp.inf


def apply_temperature(logits: jax.Array, temperature: float) -> jax.Array:
    return logits if temperature == 1.0 else logits / temperature


def apply_top_k(logits: jax.Array, top_k: int) -> jax.Array:
    """Keep the `top_k` largest logits of each row [B, V] (0 or >= V keeps all)."""
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]  # [B, 1]
    return jnp.where(logits < kth, _FILTERED, logits)


def apply_top_p(logits: jax.Array, top_p: float) -> jax.Array:
    """Nucleus filtering of each row [B, V] (top_p = 1.0 keeps all)."""
    if top_p >= 1.0:
        return logits
    order = jnp.argsort(logits, axis=-1)  # ascending, like transformers
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    cumulative = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
    remove_sorted = cumulative <= (1.0 - top_p)
    remove_sorted = remove_sorted.at[..., -1].set(False)  # min_tokens_to_keep = 1
    # scatter back to vocabulary order: position order[b, i] gets remove_sorted[b, i]
    rows = jnp.arange(logits.shape[0])[:, None]
    remove = jnp.zeros_like(remove_sorted).at[rows, order].set(remove_sorted)
    return jnp.where(remove, _FILTERED, logits)


def next_token(logits: jax.Array, rng: jax.Array | None, *, do_sample: bool, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0) -> jax.Array:
    """logits [B, V] (float32) -> token ids [B] (int32): argmax, or a sample after the warpers."""
    if not do_sample:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = apply_top_p(apply_top_k(apply_temperature(logits, temperature), top_k), top_p)
    return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)
