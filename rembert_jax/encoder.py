"""The RemBERT encoder as a pure function: `apply(params, inputs, config=...)` (spec §2).

Forward pass (B batch, S length, E input_embedding_size, H hidden, NH heads, D head size):

    x  = LN_E(word[ids] + token_type[types] + position[pos])      # [B, S, E]  (fp32 statistics)
    h0 = x @ W_proj + b_proj                                      # [B, S, H]  hidden_states[0]
    h_i = layer_i(h_{i-1})  for i = 1..L  (post-LN BERT layers over stacked params: lax.scan, unrolled on CPU)
    pooled = tanh(h_L[:, 0] @ W_pool + b_pool)                    # [B, H]     iff "pooler" in params

Decoder mode (`config.is_decoder`) adds the causal mask, cross-attention over
`encoder_hidden_states` (with `add_cross_attention`), and the fixed-size KV cache of `cache.py`.

Dtypes: parameters are stored in the policy's param dtype and cast to its compute dtype where
used; LayerNorm statistics and softmax are float32. Outputs (`last_hidden_state`, `pooler_output`,
`hidden_states`, `attentions`) come back in the compute dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .attention import IMPLEMENTATIONS, dot_product_attention
from .cache import Cache, check_cache, has_cross, init_cache
from .compiler_options import jit
from .config import RemBertConfig, freeze
from .cpu_paths import run_layers
from .kernels import add_layer_norm, bias_gelu
from .layers import activation, dense, dropout, embedding_lookup, layer_norm, matmul
from .precision import FP32, DTypePolicy
from .sharding import with_logical_constraint
from .validation import INPUT_KEYS, validate_inputs

__all__ = ["apply", "init_cache", "validate_inputs", "REMAT_POLICIES"]

# What a layer keeps for the backward pass: "none" keeps everything, "full" recomputes the layer,
# "dots" keeps the weight matmuls' outputs and recomputes the rest (attention scores included).
REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def apply(params: Mapping[str, Any], inputs: Mapping[str, Any], *, config: RemBertConfig,
          policy: DTypePolicy | str = FP32, train: bool = False, rng: jax.Array | None = None,
          output_hidden_states: bool = False, output_attentions: bool = False,
          encoder_hidden_states: jax.Array | None = None, encoder_attention_mask: jax.Array | None = None,
          cache: Cache | None = None, attention_impl: str = "auto", validate: bool = True,
          remat: str = "none") -> dict[str, Any]:
    """Run the encoder (or decoder) on `inputs`.

    Args:
      params: the tree of `init_params` / `load_pytorch`; pooler output iff it has "pooler".
      inputs: `input_ids` [B, S] int or `inputs_embeds` [B, S, E] (exactly one); optional
        `attention_mask` (1 = attend, 0 = masked) [B, K] or [B, S, K] (3-D masks are used as they
        are, without the causal mask); `token_type_ids` [B, S] (default zeros); `position_ids`
        [B or 1, S] (default `arange(PL, PL + S)`, PL = positions already in the cache);
        `segment_ids` [B, S] for packed rows (see `rembert_jax.packing`): 1, 2, ... numbers the
        sequences in a row and 0 marks padding; a token attends only to tokens of its own
        sequence, and default positions restart at 0 for each. Not with a cache or a 3-D mask.
      policy: DTypePolicy or "fp32" | "bf16" | "fp16" | "fp8" (bf16 with the layers' GEMMs in FP8).
      train, rng: dropout runs only when both train=True and an rng are given.
      output_hidden_states: also return the L+1 hidden states (the first is the projected embedding).
      output_attentions: also return the L attention probability maps [B, NH, S, K]
        (and the cross-attention maps [B, NH, S, Senc] when cross-attention ran).
      encoder_hidden_states: [B, Senc, H], decoder with cross-attention only (ignored by an
        encoder, as in transformers). encoder_attention_mask: [B, Senc] or [B, S, Senc].
      cache: decoder only, from `init_cache`. The new keys/values are written at `cache["index"]`
        and the updated cache is returned under "cache". With a cache, `attention_mask` covers
        past and current positions, [B, PL + S] like transformers (PL = cache["index"]), or
        all cache slots, [B, max_length] (a fixed shape, so a jitted decode loop never retraces);
        slots not yet written are never attended.
      attention_impl: "auto" | "xla" | "cudnn" (see `attention.select_attention_impl`).
      validate: check the inputs on the host first (skipped for tracers); see `validate_inputs`.
      remat: "none" | "full" | "dots": rematerialisation of each layer for the backward pass.

    Returns:
      dict with `last_hidden_state` [B, S, H] and `pooler_output` [B, H] (None without a pooler),
      plus `hidden_states` (tuple of L+1), `attentions` (tuple of L), `cross_attentions` when
      requested, and `cache` when one was passed.
    """
    config = freeze(config)  # the frozen, validated value is the jit key (never a mutable config)
    policy = DTypePolicy.from_name(policy)
    if attention_impl not in IMPLEMENTATIONS:
        raise ValueError(f"attention_impl must be one of {IMPLEMENTATIONS}, got {attention_impl!r}")
    if remat not in REMAT_POLICIES:
        raise ValueError(f"remat must be one of {tuple(REMAT_POLICIES)}, got {remat!r}")
    if cache is not None:
        if not config.is_decoder:
            raise ValueError("a cache can only be used in decoder mode (config.is_decoder=True)")
        check_cache(cache, config)
    if encoder_hidden_states is not None and config.is_decoder and not config.add_cross_attention:
        raise ValueError("encoder_hidden_states were passed, but this decoder has no cross-attention "
                         "layers: build it with config.add_cross_attention=True")
    if validate:
        validate_inputs(inputs, config, cache=cache, encoder_hidden_states=encoder_hidden_states,
                        encoder_attention_mask=encoder_attention_mask)
    if not config.is_decoder:  # the reference ignores encoder states in encoder mode
        encoder_hidden_states = encoder_attention_mask = None
    # nested lists become arrays (under jit a list would be a pytree of scalars, not an array)
    inputs = {k: _as_array(inputs[k]) for k in INPUT_KEYS if inputs.get(k) is not None}
    encoder_hidden_states, encoder_attention_mask = map(_as_array, (encoder_hidden_states, encoder_attention_mask))
    use_dropout = train and rng is not None
    return _forward(params, inputs, rng if use_dropout else None, encoder_hidden_states, encoder_attention_mask,
                    cache, config=config, policy=policy, output_hidden_states=output_hidden_states,
                    output_attentions=output_attentions, attention_impl=attention_impl, remat=remat)


@partial(jit, static_argnames=("config", "policy", "output_hidden_states", "output_attentions",
                                   "attention_impl", "remat"))
def _forward(params, inputs, rng, encoder_states, encoder_mask, cache, *, config: RemBertConfig,
             policy: DTypePolicy, output_hidden_states: bool, output_attentions: bool, attention_impl: str,
             remat: str):
    dtype = policy.compute_dtype
    L = config.num_hidden_layers
    index = cache["index"] if cache is not None else jnp.zeros((), jnp.int32)  # PL

    x = _embed(params["embeddings"], inputs, index, config, None if rng is None else jax.random.fold_in(rng, L))
    h = _hidden(dense(x.astype(dtype), params["projection"]))  # [B, S, H]
    batch, length = h.shape[:2]

    self_mask, kv_length = _self_attention_mask(inputs.get("attention_mask"), length, index, cache, config)
    if "segment_ids" in inputs:  # packed rows: attend within one's own sequence only
        same_sequence = _segment_mask(inputs["segment_ids"])  # [B, 1, S, S]
        self_mask = same_sequence if self_mask is None else self_mask & same_sequence
    cross_ready = has_cross(cache)
    use_cross = config.add_cross_attention and (encoder_states is not None or cross_ready)
    cross_mask = _cross_attention_mask(encoder_mask) if use_cross else None
    if encoder_states is not None and not cross_ready:
        encoder_states = encoder_states.astype(dtype)

    # The dense weights are cast to the compute dtype once, for all layers, rather than inside the
    # scan (and again in the backward's recomputation): +1.4% train-step speed on an H100.
    xs = {"params": _dense_weights_in(params["layers"], dtype), "layer": jnp.arange(L)}
    if cache is not None:
        xs["self_key"], xs["self_value"] = cache["self_key"], cache["self_value"]
        if cross_ready:
            xs["cross_key"], xs["cross_value"] = cache["cross_key"], cache["cross_value"]

    linear = partial(dense, fp8=policy.fp8)  # the layers' GEMMs: FP8 under policy "fp8"

    def layer(h, xs):
        p = xs["params"]
        keys = [None] * 5 if rng is None else list(jax.random.split(jax.random.fold_in(rng, xs["layer"]), 5))
        ys = {}
        # self-attention: [B, S, H] -> [B, S, H]
        q, k, v = (_heads(linear(h, p["self_attention"][n]), config) for n in ("query", "key", "value"))
        if cache is not None:
            ys["self_key"], ys["self_value"] = k, v  # only the new positions; written after the scan
            k = jax.lax.dynamic_update_slice(xs["self_key"], k.astype(xs["self_key"].dtype), (0, index, 0, 0))
            v = jax.lax.dynamic_update_slice(xs["self_value"], v.astype(xs["self_value"].dtype), (0, index, 0, 0))
        h, ys["attentions"] = _attention_block(h, q, k.astype(dtype), v.astype(dtype), self_mask, kv_length,
                                               p["self_attention"], keys[0], keys[1])
        if use_cross:
            q = _heads(linear(h, p["cross_attention"]["query"]), config)
            if cross_ready:
                k, v = xs["cross_key"].astype(dtype), xs["cross_value"].astype(dtype)
            else:  # [B, Senc, NH, D] from the encoder states
                k, v = (_heads(linear(encoder_states, p["cross_attention"][n]), config) for n in ("key", "value"))
                if cache is not None:
                    ys["cross_key"], ys["cross_value"] = k, v
            h, ys["cross_attentions"] = _attention_block(h, q, k, v, cross_mask, None, p["cross_attention"],
                                                         keys[2], keys[3])
        # feed-forward: [B, S, H] -> [B, S, I] -> [B, S, H]
        f = with_logical_constraint(_intermediate(h, p["mlp"]["intermediate"]), ("batch", "length", "act_mlp"))
        f = dropout(linear(f, p["mlp"]["output"]), config.hidden_dropout_prob, keys[4])
        h = _hidden(add_layer_norm(f, h, p["mlp"]["ln"], config.layer_norm_eps))
        if output_hidden_states:
            ys["hidden"] = h
        if not output_attentions:
            ys.pop("attentions")
            ys.pop("cross_attentions", None)
        return h, ys

    def _attention_block(h, q, k, v, mask, kv_len, p, rng_probs, rng_out):
        ctx, probs = dot_product_attention(
            q, k, v, mask, kv_length=kv_len, impl=attention_impl, dropout_rate=config.attention_probs_dropout_prob,
            dropout_rng=rng_probs, return_weights=output_attentions)
        out = linear(ctx.reshape(h.shape), p["output"])  # [B, S, NH, D] -> [B, S, H]
        out = dropout(out, config.hidden_dropout_prob, rng_out)
        return add_layer_norm(out, h, p["ln"], config.layer_norm_eps), probs

    def _intermediate(h, p):  # [B, S, H] -> [B, S, I]; bias + exact GELU fused (kernels.bias_gelu)
        if config.hidden_act == "gelu":
            return bias_gelu(matmul(h, p["kernel"], policy.fp8), p["bias"])
        return activation(config.hidden_act)(linear(h, p))

    if remat != "none":
        layer = jax.checkpoint(layer, policy=REMAT_POLICIES[remat], prevent_cse=False)
    h0 = h
    h, ys = run_layers(layer, h0, xs)  # lax.scan; unrolled on CPU (cpu_paths)

    if cache is not None:
        # A write past max_length would be clamped by dynamic_update_slice: poison the output
        # instead of returning plausible numbers (validate_inputs catches this before jit).
        overflow = index + length > cache["self_key"].shape[2]
        h = jnp.where(overflow, jnp.nan, h).astype(dtype)
    out: dict[str, Any] = {"last_hidden_state": h, "pooler_output": None}
    if "pooler" in params:
        out["pooler_output"] = jnp.tanh(dense(h[:, 0], params["pooler"]))  # [B, H]
    if output_hidden_states:
        out["hidden_states"] = (h0, *(ys["hidden"][i] for i in range(L)))
    if output_attentions:
        out["attentions"] = tuple(ys["attentions"][i] for i in range(L))
        if use_cross:
            out["cross_attentions"] = tuple(ys["cross_attentions"][i] for i in range(L))
    if cache is not None:
        new_cache = dict(cache)
        for name in ("self_key", "self_value"):  # [L, B, S, NH, D] into [L, B, max_length, NH, D]
            new_cache[name] = jax.lax.dynamic_update_slice(cache[name], ys[name].astype(cache[name].dtype),
                                                           (0, 0, index, 0, 0))
        if use_cross and not cross_ready:
            new_cache["cross_key"], new_cache["cross_value"] = ys["cross_key"], ys["cross_value"]
        new_cache["index"] = index + length
        out["cache"] = new_cache
    return out


def _dense_weights_in(tree, dtype):
    """The dense layers' kernels and biases (dicts with a "kernel") cast to `dtype`; LayerNorm
    parameters keep their dtype (their statistics are float32)."""
    if isinstance(tree, Mapping):
        if "kernel" in tree:
            return {k: v.astype(dtype) for k, v in tree.items()}
        return {k: _dense_weights_in(v, dtype) for k, v in tree.items()}
    return tree


def _as_array(x):
    return x if x is None or hasattr(x, "shape") else np.asarray(x)


def _heads(x: jax.Array, config: RemBertConfig) -> jax.Array:
    """[B, S, H] -> [B, S, NH, D], laid out on the current mesh by the `act_heads` rule."""
    x = x.reshape(*x.shape[:-1], config.num_attention_heads, config.head_dim)
    return with_logical_constraint(x, ("batch", "length", "act_heads", None))


def _hidden(h: jax.Array) -> jax.Array:
    """Hidden states [B, S, H] laid out on the current mesh by the `batch`/`act_embed` rules."""
    return with_logical_constraint(h, ("batch", "length", "act_embed"))


def _embed(p, inputs, index, config: RemBertConfig, rng) -> jax.Array:
    """Word + token type + position embeddings, LayerNorm (fp32), dropout: [B, S, E] float32."""
    if "input_ids" in inputs:
        ids = inputs["input_ids"]
        x = embedding_lookup(p["word"], ids).astype(jnp.float32)  # [B, S, E]
        if config.pad_token_id is not None:
            # PyTorch's nn.Embedding(padding_idx=pad) never sends gradient into the pad row.
            x = jnp.where((ids == config.pad_token_id)[..., None], jax.lax.stop_gradient(x), x)
    else:
        x = inputs["inputs_embeds"].astype(jnp.float32)
    batch, length = x.shape[:2]
    types = inputs.get("token_type_ids")
    types = jnp.zeros((batch, length), jnp.int32) if types is None else types
    positions = inputs.get("position_ids")
    if positions is None and "segment_ids" in inputs:
        positions = segment_positions(inputs["segment_ids"])  # [B, S], restarting per sequence
    elif positions is None:
        positions = (index + jnp.arange(length, dtype=jnp.int32))[None, :]  # [1, S]
    # transformers adds token types first, then positions (the order only affects rounding).
    x = x + embedding_lookup(p["token_type"], types).astype(jnp.float32)
    x = x + embedding_lookup(p["position"], positions).astype(jnp.float32)
    x = layer_norm(x, p["ln"], config.layer_norm_eps)
    return dropout(x, config.hidden_dropout_prob, rng)


def _self_attention_mask(mask, length: int, index, cache, config: RemBertConfig):
    """The boolean self-attention mask, broadcastable to [B, NH, S, K], and the cache's kv length.

    Encoder: the padding mask. Decoder: causal & padding over the S inputs, or over the cache's
    max_length slots with queries at absolute positions PL..PL+S-1. 3-D masks are used as given.
    """
    if cache is None:
        keys = length
        q_pos, kv_length = jnp.arange(length), None
    else:
        keys = cache["self_key"].shape[2]  # max_length
        q_pos, kv_length = index + jnp.arange(length), index + length
        if mask is not None and mask.shape[-1] < keys:  # [.., PL+S] -> [.., max_length]; new slots are unwritten
            pad = [(0, 0)] * (mask.ndim - 1) + [(0, keys - mask.shape[-1])]
            mask = jnp.pad(mask, pad)
    if mask is not None and mask.ndim == 3:
        return mask[:, None, :, :] != 0, kv_length  # [B, 1, S, K]
    padding = None if mask is None else (mask[:, None, None, :] != 0)  # [B, 1, 1, K]
    if not config.is_decoder:
        return padding, kv_length
    causal = (jnp.arange(keys)[None, :] <= q_pos[:, None])[None, None]  # [1, 1, S, K]
    return (causal if padding is None else causal & padding), kv_length


def _segment_mask(segment_ids) -> jax.Array:
    """[B, S] sequence numbers (0 = padding) -> [B, 1, S, S]: same sequence, and a real key."""
    seg = jnp.asarray(segment_ids)
    return ((seg[:, :, None] == seg[:, None, :]) & (seg[:, None, :] > 0))[:, None]


def segment_starts(segment_ids) -> jax.Array:
    """[B, S] sequence numbers -> [B, S] True at the first token of each run (sequence or padding)."""
    seg = jnp.asarray(segment_ids)
    return jnp.concatenate([jnp.ones_like(seg[:, :1], bool), seg[:, 1:] != seg[:, :-1]], axis=1)


def segment_positions(segment_ids) -> jax.Array:
    """[B, S] sequence numbers -> [B, S] positions counting from 0 at each sequence's first token."""
    seg = jnp.asarray(segment_ids)
    index = jnp.broadcast_to(jnp.arange(seg.shape[1], dtype=jnp.int32), seg.shape)
    return index - jax.lax.cummax(jnp.where(segment_starts(seg), index, 0), axis=1)


def _cross_attention_mask(mask):
    """[B, Senc] -> [B, 1, 1, Senc]; [B, S, Senc] -> [B, 1, S, Senc]; never causal."""
    if mask is None:
        return None
    return (mask[:, None, None, :] if mask.ndim == 2 else mask[:, None, :, :]) != 0
