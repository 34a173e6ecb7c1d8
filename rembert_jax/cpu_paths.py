"""The code paths XLA's CPU backend runs faster than the general ones, chosen in this one place.

Two costs of the general path dominate a CPU training step besides the GEMMs (issue 16's
profile of 4 full-width layers, fp32, on a 2-core Xeon: 1383 ms a step):

- `lax.scan` over the stacked layer weights copies each layer's slice out of the stack, and
  its backward accumulates the weight gradients into zero-filled [L, ...] buffers (about 100 ms
  of slicing plus part of the zero-filling). A Python loop over the layers (`run_layers`
  unrolled) lets XLA read each layer's weights where they lie and write their gradients once.
- The word-embedding gradient of `jnp.take` is a scatter-add into a zero-filled 250k x 256
  buffer, filled single-threaded (116 ms). `take_rows` gives the gradient as one gather pass
  over rows summed per used id instead (no zero fill, no scatter into the big table).

Elsewhere (GPU, TPU) the general paths stay: scan compiles a 32-layer model once per layer
shape (fast compiles), and their scatters run in parallel on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# Tables at least this many rows take the gather-built gradient on CPU (the word embedding);
# the tiny token-type and position tables keep the plain scatter, which is cheaper for them.
LARGE_TABLE_ROWS = 4096


def fast_cpu_paths() -> bool:
    """Does the program being traced run on the CPU backend (so the CPU paths apply)?"""
    return jax.default_backend() == "cpu"


def run_layers(layer: Callable[[jax.Array, Any], tuple[jax.Array, Any]], h0: jax.Array, xs: Any
               ) -> tuple[jax.Array, Any]:
    """`jax.lax.scan(layer, h0, xs)`, or on CPU the same loop unrolled in Python.

    xs: a pytree of arrays stacked on a leading [L] axis; returns (h_L, ys stacked on [L]).
    """
    if not fast_cpu_paths():
        return jax.lax.scan(layer, h0, xs)
    count = jax.tree_util.tree_leaves(xs)[0].shape[0]
    # lax.split, not x[i]: its transpose concatenates the layers' gradients in one pass, where
    # each slice's transpose would be a zero-padded [L, ...] buffer, summed over the layers.
    per_layer = jax.tree_util.tree_map(lambda x: [p[0] for p in jax.lax.split(x, [1] * count)], xs)
    h, ys = h0, []
    for i in range(count):
        h, y = layer(h, jax.tree_util.tree_map(lambda parts, i=i: parts[i], per_layer,
                                               is_leaf=lambda x: isinstance(x, list)))
        ys.append(y)
    return h, jax.tree_util.tree_map(lambda *layers: jnp.stack(layers), *ys)


@jax.custom_vjp
def take_rows(table: jax.Array, ids: jax.Array) -> jax.Array:
    """`jnp.take(table, ids, axis=0)`: table [N, E], ids int [...] -> [..., E], whose gradient
    for `table` is built without a zero-filled [N, E] buffer and a scatter into it."""
    return jnp.take(table, ids, axis=0)


def _take_rows_fwd(table, ids):
    return jnp.take(table, ids, axis=0), (ids, table.shape[0])


def _take_rows_bwd(residuals, grad_rows):
    ids, rows = residuals
    flat = ids.reshape(-1)  # [T]
    tokens = flat.shape[0]
    # owner[v]: one token holding id v (any of them; -1 if none). Every token of id v then
    # reads the same owner, so summing per owner sums per id: T rows instead of N.
    owner = jnp.full((rows,), -1, jnp.int32).at[flat].set(jnp.arange(tokens, dtype=jnp.int32))  # [N]
    summed = jax.ops.segment_sum(grad_rows.reshape(tokens, -1), owner[flat], num_segments=tokens)  # [T, E]
    used = (owner >= 0)[:, None]
    grad_table = jnp.where(used, summed[jnp.maximum(owner, 0)], jnp.zeros((), grad_rows.dtype))  # [N, E]
    return grad_table, None


take_rows.defvjp(_take_rows_fwd, _take_rows_bwd)
