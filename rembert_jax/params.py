"""Encoder parameters: one table gives every parameter's shape, logical axes and initialiser.

`init_params` and `logical_axes` both read `param_specs`, so shapes and sharding names can't
drift apart. Layers are stacked on a leading `layers` axis (run with `lax.scan`).

Tree (V vocab, E input_embedding_size, P positions, T token types, H hidden, I intermediate,
L layers; dense kernels are [in, out] like Flax/Keras, the transpose of PyTorch's Linear.weight):

    embeddings/word            [V, E]      embeddings/position  [P, E]
    embeddings/token_type      [T, E]      embeddings/ln/{scale,bias} [E]
    projection/{kernel [E, H], bias [H]}                        (embedding_hidden_mapping_in)
    layers/self_attention/{query,key,value,output}/{kernel [L, H, H], bias [L, H]}
    layers/self_attention/ln/{scale,bias} [L, H]
    layers/cross_attention/...  same as self_attention           (only with add_cross_attention)
    layers/mlp/intermediate/{kernel [L, H, I], bias [L, I]}
    layers/mlp/output/{kernel [L, I, H], bias [L, H]}
    layers/mlp/ln/{scale,bias} [L, H]
    pooler/{kernel [H, H], bias [H]}                             (only with add_pooling_layer)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .config import RemBertConfig, freeze

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One parameter: its shape, its logical axis names, and how the reference initialises it."""

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    # "normal" (N(0, initializer_range)), "zeros", "ones", "embedding" (normal, pad row 0); "head": the
    # Flax head module's own initialiser (rembert_jax.heads.init_head)
    init: str


def dense_spec(n_in: int, n_out: int, in_axis: str, out_axis: str, layers: int | None = None) -> dict:
    lead, lead_axes = ((layers,), ("layers",)) if layers else ((), ())
    return {
        "kernel": ParamSpec(lead + (n_in, n_out), lead_axes + (in_axis, out_axis), "normal"),
        "bias": ParamSpec(lead + (n_out,), lead_axes + (out_axis,), "zeros"),
    }


def layer_norm_spec(size: int, axis: str, layers: int | None = None) -> dict:
    lead, lead_axes = ((layers,), ("layers",)) if layers else ((), ())
    return {
        "scale": ParamSpec(lead + (size,), lead_axes + (axis,), "ones"),
        "bias": ParamSpec(lead + (size,), lead_axes + (axis,), "zeros"),
    }


def _attention_spec(config: RemBertConfig) -> dict:
    H, L = config.hidden_size, config.num_hidden_layers
    return {
        "query": dense_spec(H, H, "embed", "heads", L),
        "key": dense_spec(H, H, "embed", "heads", L),
        "value": dense_spec(H, H, "embed", "heads", L),
        "output": dense_spec(H, H, "heads", "embed", L),
        "ln": layer_norm_spec(H, "embed", L),
    }


def param_specs(config: RemBertConfig, *, add_pooling_layer: bool = True) -> dict:
    """The nested table of `ParamSpec` for the encoder described by `config`."""
    config = freeze(config)  # validated here: transformers rejects a bad config when a model is built
    V, E, H = config.vocab_size, config.input_embedding_size, config.hidden_size
    inner, L = config.intermediate_size, config.num_hidden_layers
    layers = {"self_attention": _attention_spec(config)}
    if config.add_cross_attention:
        layers["cross_attention"] = _attention_spec(config)
    layers["mlp"] = {
        "intermediate": dense_spec(H, inner, "embed", "mlp", L),
        "output": dense_spec(inner, H, "mlp", "embed", L),
        "ln": layer_norm_spec(H, "embed", L),
    }
    specs = {
        "embeddings": {
            "word": ParamSpec((V, E), ("vocab", "embed_in"), "embedding"),
            "position": ParamSpec((config.max_position_embeddings, E), ("positions", "embed_in"), "normal"),
            "token_type": ParamSpec((config.type_vocab_size, E), ("token_types", "embed_in"), "normal"),
            "ln": layer_norm_spec(E, "embed_in"),
        },
        "projection": dense_spec(E, H, "embed_in", "embed"),
        "layers": layers,
    }
    if add_pooling_layer:
        specs["pooler"] = dense_spec(H, H, "embed", "pooled")
    return specs


def _is_spec(x) -> bool:
    return isinstance(x, ParamSpec)


def init_from_specs(specs: dict, rng: jax.Array, *, std: float, pad_token_id: int | None = None,
                    dtype=jnp.float32) -> Params:
    """Initialise every `ParamSpec` leaf of `specs` as the reference does (spec §2.10)."""
    leaves, treedef = jax.tree_util.tree_flatten(specs, is_leaf=_is_spec)
    keys = jax.random.split(rng, len(leaves))
    inits: dict[str, Callable[[jax.Array, ParamSpec], jax.Array]] = {
        "normal": lambda k, s: std * jax.random.normal(k, s.shape, dtype),
        "zeros": lambda k, s: jnp.zeros(s.shape, dtype),
        "ones": lambda k, s: jnp.ones(s.shape, dtype),
    }

    def embedding(k, s):
        table = std * jax.random.normal(k, s.shape, dtype)
        # PyTorch's nn.Embedding(padding_idx=pad) zeroes that row at init.
        return table if pad_token_id is None else table.at[pad_token_id].set(0)

    inits["embedding"] = embedding
    return jax.tree_util.tree_unflatten(treedef, [inits[s.init](k, s) for k, s in zip(keys, leaves, strict=True)])


def init_params(config: RemBertConfig, rng: jax.Array, *, add_pooling_layer: bool = True,
                dtype=jnp.float32) -> Params:
    """Fresh encoder parameters as a plain nested dict (normal(0.02) weights, zero biases,
    unit LayerNorm, zero padding row)."""
    return init_from_specs(param_specs(config, add_pooling_layer=add_pooling_layer), rng,
                           std=config.initializer_range, pad_token_id=config.pad_token_id, dtype=dtype)


def logical_axes(config: RemBertConfig, *, add_pooling_layer: bool = True) -> dict:
    """The tree of `init_params`, with each leaf replaced by its tuple of logical axis names."""
    return jax.tree_util.tree_map(lambda s: s.axes, param_specs(config, add_pooling_layer=add_pooling_layer),
                                  is_leaf=_is_spec)


def count_params(params) -> int:
    """Number of scalars in a params tree (works on `jax.eval_shape` output too)."""
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(params)))
