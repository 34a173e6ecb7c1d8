"""Next-token choice for `generate`: transformers' logits warpers and token pick, in JAX.

The warpers run in transformers' order (temperature, then top-k, then top-p) and remove tokens
by setting their logits to -inf, with transformers' tie and boundary rules:
  - top-k keeps every token whose logit is >= the k-th largest (ties at the boundary survive);
  - top-p sorts ascending and removes the tokens whose cumulative probability is <= 1 - top_p,
    always keeping the most likely token.

`temperature`, `top_k` and `top_p` may be traced values (Python numbers or 0-d arrays alike), so
`generate` compiles once for all sampling settings. That is why top-k is not `lax.top_k` (which
needs a static k): the k-th largest logit is read from the sorted row at the traced rank.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_FILTERED = -jnp.inf


def apply_temperature(logits: jax.Array, temperature) -> jax.Array:
    return logits / jnp.asarray(temperature, logits.dtype)  # x / 1.0 == x exactly


def apply_top_k(logits: jax.Array, top_k, order: jax.Array | None = None) -> jax.Array:
    """Keep the `top_k` largest logits of each row [B, V] (0 or >= V keeps all). `order`: the
    row's ascending `argsort`, if the caller has it already."""
    V = logits.shape[-1]
    k = jnp.asarray(top_k, jnp.int32)
    order = jnp.argsort(logits, axis=-1) if order is None else order  # [B, V] ascending
    rank = jnp.full(logits.shape[:-1] + (1,), V - jnp.clip(k, 1, V))  # [B, 1]: the k-th largest, ascending
    kth = jnp.take_along_axis(logits, jnp.take_along_axis(order, rank, axis=-1), axis=-1)  # [B, 1]
    return jnp.where((k > 0) & (k < V) & (logits < kth), _FILTERED, logits)


def apply_top_p(logits: jax.Array, top_p, order: jax.Array | None = None) -> jax.Array:
    """Nucleus filtering of each row [B, V] (top_p = 1.0 keeps all). `order`: the row's ascending
    `argsort`, if the caller has it already."""
    p = jnp.asarray(top_p, jnp.float32)
    order = jnp.argsort(logits, axis=-1) if order is None else order  # ascending (stable), like transformers
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    cumulative = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
    # top_p >= 1 removes nothing (not even tokens whose probability underflows to 0)
    remove_sorted = (cumulative <= (1.0 - p)) & (p < 1.0)
    remove_sorted = remove_sorted.at[..., -1].set(False)  # min_tokens_to_keep = 1
    # scatter back to vocabulary order: position order[b, i] gets remove_sorted[b, i]
    rows = jnp.arange(logits.shape[0])[:, None]
    remove = jnp.zeros_like(remove_sorted).at[rows, order].set(remove_sorted)
    return jnp.where(remove, _FILTERED, logits)


def warp_logits(logits: jax.Array, temperature=1.0, top_k=0, top_p=1.0) -> jax.Array:
    """Temperature, then top-k, then top-p on logits [B, V]. The sorts run only when top-k or
    top-p is on (a `lax.cond`), so plain temperature sampling costs none."""
    logits = apply_temperature(logits, temperature)
    V = logits.shape[-1]
    top_k, top_p = jnp.asarray(top_k, jnp.int32), jnp.asarray(top_p, jnp.float32)
    filtering = ((top_k > 0) & (top_k < V)) | (top_p < 1.0)

    def both(x):
        # One sort serves both: top-k only sets the smallest logits to -inf, so the ascending order
        # of the row stays an ascending order of the filtered row (-inf entries have probability 0).
        order = jnp.argsort(x, axis=-1)  # [B, V]
        return apply_top_p(apply_top_k(x, top_k, order), top_p, order)

    return jax.lax.cond(filtering, both, lambda x: x, logits)


def next_token(logits: jax.Array, rng: jax.Array | None, *, do_sample: bool, temperature=1.0, top_k=0,
               top_p=1.0) -> jax.Array:
    """logits [B, V] (float32) -> token ids [B] (int32): argmax, or a sample after the warpers."""
    if not do_sample:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = warp_logits(logits, temperature, top_k, top_p)
    return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)
