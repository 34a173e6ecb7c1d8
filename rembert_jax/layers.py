"""The small numerical building blocks of the encoder: dense, LayerNorm, activations, dropout.

Each matches transformers' PyTorch semantics exactly in fp32 (spec §2.10): LayerNorm uses the
two-pass biased variance E[(x - mean)^2] with its statistics in float32 whatever the compute dtype
(eps=1e-12 underflows in half precision), and "gelu" is the exact erf form, not jax's default
tanh approximation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from . import cpu_paths


def _gelu_exact(x: jax.Array) -> jax.Array:
    """0.5 x (1 + erf(x / sqrt(2))) in float32, back in x's dtype.

    Written out with `lax.erf` because `jax.nn.gelu(approximate=False)` lowers through erfc,
    which made the whole model ~18% slower on an H100 (benchmarks/gpu_check.py).
    """
    x32 = x.astype(jnp.float32)
    return (0.5 * x32 * (1.0 + jax.lax.erf(x32 * math.sqrt(0.5)))).astype(x.dtype)


# transformers' ACT2FN names -> jax functions (the ones RemBertConfig accepts).
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": _gelu_exact,
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation called `name` in transformers' ACT2FN (exact erf GELU for "gelu")."""
    if name not in ACTIVATIONS:
        raise ValueError(f"hidden_act {name!r} is not supported; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def embedding_lookup(table: jax.Array, ids: jax.Array) -> jax.Array:
    """Rows of `table` [N, E] at `ids` [...] -> [..., E].

    Under a mesh with explicit axes (`jax.make_mesh`'s default) a gather's output sharding is
    ambiguous; it is declared here to follow the ids (e.g. batch-sharded), features replicated.
    On CPU a large table's gradient skips the zero-filled dense buffer (`cpu_paths.take_rows`).
    """
    sharding = getattr(jax.typeof(ids), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty or not any(t == jax.sharding.AxisType.Explicit for t in mesh.axis_types):
        if cpu_paths.fast_cpu_paths() and table.shape[0] >= cpu_paths.LARGE_TABLE_ROWS:
            return cpu_paths.take_rows(table, ids)
        return jnp.take(table, ids, axis=0)
    out = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*sharding.spec, None))
    return table.at[ids].get(out_sharding=out)


def dense(x: jax.Array, params: Mapping[str, jax.Array], fp8: bool = False) -> jax.Array:
    """`x @ kernel + bias` with a Flax-layout kernel [in, out] (PyTorch's Linear.weight transposed);
    `fp8`: the GEMM in FP8 (`rembert_jax.fp8`)."""
    return matmul(x, params["kernel"], fp8) + params["bias"].astype(x.dtype)


def matmul(x: jax.Array, kernel: jax.Array, fp8: bool = False) -> jax.Array:
    """x [..., in] @ kernel [in, out] in x's dtype, or as an FP8 GEMM when `fp8`."""
    if fp8:
        from .fp8 import matmul_fp8

        return matmul_fp8(x, kernel)
    return x @ kernel.astype(x.dtype)


def layer_norm(x: jax.Array, params: Mapping[str, jax.Array], eps: float) -> jax.Array:
    """LayerNorm over the last axis with float32 two-pass statistics; returns x's dtype."""
    x32 = x.astype(jnp.float32)
    mean = jnp.mean(x32, axis=-1, keepdims=True)
    centred = x32 - mean
    variance = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)  # biased, like torch
    y = centred * jax.lax.rsqrt(variance + eps)
    y = y * params["scale"].astype(jnp.float32) + params["bias"].astype(jnp.float32)
    return y.astype(x.dtype)


def dropout(x: jax.Array, rate: float, rng: jax.Array | None) -> jax.Array:
    """Inverted dropout; the identity when `rng` is None or `rate` is 0 (evaluation)."""
    if rng is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)
