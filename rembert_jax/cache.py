"""The fixed-size key/value cache for incremental decoding (decoder mode, spec §2.7).

A cache is a plain dict pytree, so it passes through `jax.jit`, `lax.while_loop` and donation:

    index        int32 []                  positions already written (PL); the next write starts here
    self_key     [L, B, max_length, NH, D]  self-attention keys of every layer
    self_value   [L, B, max_length, NH, D]
    cross_key    [L, B, Senc, NH, D]        cross-attention keys: only once computed (see below)
    cross_value  [L, B, Senc, NH, D]

The sequence axis comes before the heads (jax.nn.dot_product_attention's layout), so a decode
step writes and reads the cache without transposing it.

Cross-attention keys/values depend only on the encoder states, so `apply` computes them on the
first call that passes `encoder_hidden_states` and returns them in the cache; later calls reuse
them (encoder states may then be omitted). The first call therefore has a different cache
structure than later ones (one extra trace under jit).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from .config import RemBertConfig, freeze

Cache = dict[str, Any]


def init_cache(config: RemBertConfig, batch_size: int, max_length: int, dtype=jnp.float32) -> Cache:
    """An empty cache for `batch_size` sequences of up to `max_length` positions.

    `dtype` should be the compute dtype of the policy used with `apply`.
    """
    config = freeze(config)
    if not config.is_decoder:
        raise ValueError("init_cache: a KV cache needs a decoder config (config.is_decoder=True)")
    if batch_size < 1 or max_length < 1:
        raise ValueError(f"init_cache: batch_size and max_length must be >= 1, got {batch_size}, {max_length}")
    if max_length > config.max_position_embeddings:
        raise ValueError(f"init_cache: max_length={max_length} exceeds max_position_embeddings="
                         f"{config.max_position_embeddings}")
    shape = (config.num_hidden_layers, batch_size, max_length, config.num_attention_heads, config.head_dim)
    return {
        "index": jnp.zeros((), jnp.int32),
        "self_key": jnp.zeros(shape, dtype),
        "self_value": jnp.zeros(shape, dtype),
    }


def has_cross(cache: Cache | None) -> bool:
    return cache is not None and "cross_key" in cache


def check_cache(cache: Any, config: RemBertConfig) -> None:
    """Structural checks on a cache (shapes only; works on tracers)."""
    if not isinstance(cache, dict) or not {"index", "self_key", "self_value"} <= set(cache):
        raise ValueError("cache must be the dict returned by init_cache (keys index, self_key, self_value)")
    config = freeze(config)
    L, NH, D = config.num_hidden_layers, config.num_attention_heads, config.head_dim
    shape = tuple(cache["self_key"].shape)
    if len(shape) != 5 or shape[0] != L or shape[3:] != (NH, D):
        raise ValueError(f"cache self_key has shape {shape}; this config needs [L={L}, B, max_length, "
                         f"NH={NH}, D={D}]")
