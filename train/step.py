"""The jitted train and eval steps.

`make_train_step` returns `train_step(state, batch) -> (state, metrics)`, jitted once with the
state donated (its buffers are reused for the new state, so a step needs no second copy of the
parameters and optimizer moments). The step never syncs with the host: metrics come back as
device scalars and the loop fetches them when it logs.

Shardings are passed in, never derived here: `state_sharding` (a pytree of shardings matching the
state, or one sharding for all of it) and `batch_sharding` (for every batch leaf, e.g. the batch
axis split over the mesh's "data" axis). Without them the step runs on the default device.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rembert_jax.compiler_options import jit

from .state import TrainState

EVAL_OUTPUT_KEYS = ("loss", "logits", "start_logits", "end_logits")


def make_train_step(model, optimizer: optax.GradientTransformation, schedule: optax.Schedule, *,
                    grad_accum_steps: int = 1, dropout: bool = True, state_sharding=None,
                    batch_sharding=None):
    """`model` follows the TaskModel contract: `model.loss(params, batch, *, rng=None) -> (loss, outputs)`."""

    def train_step(state: TrainState, batch: Mapping[str, jax.Array]) -> tuple[TrainState, dict[str, Any]]:
        # A fresh dropout key per micro-batch that depends only on the step: resume-exact.
        rng = jax.random.fold_in(state.rng, state.step) if dropout else None
        (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(state.params, batch, rng=rng)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": loss.astype(jnp.float32),
            "grad_norm": optax.tree.norm(_accumulated(grads, state.opt_state)),
            # The lr this micro-batch's update used (schedules count optimizer updates, like LambdaLR).
            "learning_rate": schedule(state.step // grad_accum_steps),
        }
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

    if state_sharding is None and batch_sharding is None:
        return jit(train_step, training=True, donate_argnums=(0,))
    replicated = _replicated_like(batch_sharding if batch_sharding is not None else state_sharding)
    return jit(train_step, training=True, donate_argnums=(0,), in_shardings=(state_sharding, batch_sharding),
                   out_shardings=(state_sharding, replicated))


def _accumulated(grads, opt_state):
    """The gradient the optimizer sees: with `optax.MultiSteps` (gradient accumulation) the mean
    of this cycle's micro-batch gradients so far, this one included (MultiSteps' own running
    mean); so the last micro-step of a cycle reports the norm of the gradient actually applied."""
    if not isinstance(opt_state, optax.MultiStepsState):
        return grads
    seen = opt_state.mini_step.astype(jnp.float32)  # micro-batches already in acc_grads
    return jax.tree.map(lambda acc, g: acc + (g - acc) / (seen + 1.0), opt_state.acc_grads, grads)


def make_eval_step(model, *, params_sharding=None, batch_sharding=None):
    """`eval_step(params, batch) -> outputs` with the loss (when labels are given) and the logits."""

    def eval_step(params, batch):
        outputs = model.apply(params, batch, train=False)
        return {k: v for k, v in outputs.items() if k in EVAL_OUTPUT_KEYS and v is not None}

    if params_sharding is None and batch_sharding is None:
        return jit(eval_step)
    return jit(eval_step, in_shardings=(params_sharding, batch_sharding))


def _replicated_like(sharding):
    leaf = jax.tree_util.tree_leaves(sharding)[0] if not isinstance(sharding, jax.sharding.Sharding) else sharding
    mesh = getattr(leaf, "mesh", None)
    if mesh is None:
        return None
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
