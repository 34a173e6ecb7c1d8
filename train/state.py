"""The train state: one pytree holding everything a step changes.

    step       int32 []      micro-batches consumed so far (optimizer updates = step // grad_accum_steps)
    params     pytree        fp32 master weights {"encoder": ..., "head": ...}
    opt_state  pytree        the optax state (Adam moments, schedule count, accumulation buffers)
    rng        uint32 [2]    the run's base key; step k uses fold_in(rng, k), so a resumed run
                             draws exactly the dropout masks the uninterrupted run would have

The rng is a raw uint32 key (not a typed key array) so checkpoints store it as a plain array.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array

    def replace(self, **changes) -> TrainState:
        return dataclasses.replace(self, **changes)


def create_train_state(params, optimizer: optax.GradientTransformation, rng: jax.Array) -> TrainState:
    """A fresh state at step 0 for `params` (which it keeps: pass a copy if you need the original)."""
    params = jax.tree_util.tree_map(jnp.asarray, params)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
                      rng=jnp.asarray(rng, jnp.uint32))


def abstract_train_state(params, optimizer: optax.GradientTransformation, rng: jax.Array):
    """The state's shapes and dtypes (`jax.ShapeDtypeStruct` leaves), computed without FLOPs."""
    return jax.eval_shape(lambda p, r: create_train_state(p, optimizer, r), params, rng)
