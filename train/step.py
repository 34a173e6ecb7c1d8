"""The jitted train and eval steps.

`make_train_step` returns `train_step(state, batch) -> (state, metrics)`, jitted once with the
state donated (its buffers are reused for the new state, so a step needs no second copy of the
parameters and optimizer moments). The step never syncs with the host: metrics come back as
device scalars and the loop fetches them when it logs.

Shardings are passed in, never derived here: `state_sharding` (a pytree of shardings matching the
state, or one sharding for all of it) and `batch_sharding` (for every batch leaf, e.g. the batch
axis split over the mesh's "data" axis). There is always a mesh: the one of those shardings, or
without them a one-device mesh with everything on the first device; each call runs under it
(`jax.set_mesh`), so the model's activation constraints (`rembert_jax.sharding`) see it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rembert_jax.compiler_options import jit
from rembert_jax.sharding import make_mesh

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

    mesh, state_sharding, batch_sharding = _on_a_mesh(state_sharding, batch_sharding)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    in_shardings = (state_sharding, batch_sharding)
    return _under(mesh, jit(train_step, training=True, donate_argnums=(0,), in_shardings=in_shardings,
                            out_shardings=(state_sharding, replicated)), in_shardings, donate=(True, False))


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

    mesh, params_sharding, batch_sharding = _on_a_mesh(params_sharding, batch_sharding)
    in_shardings = (params_sharding, batch_sharding)
    return _under(mesh, jit(eval_step, in_shardings=in_shardings), in_shardings, donate=(False, False))


def _on_a_mesh(*shardings):
    """The mesh of `shardings` (None: unspecified) and the shardings; when none is given, a
    one-device mesh with everything replicated on it (the first device, where jax puts arrays)."""
    given = [leaf for s in shardings for leaf in jax.tree_util.tree_leaves(s)]
    if given:
        return given[0].mesh, *shardings
    return default_mesh(), *(replicated() for _ in shardings)


def default_mesh() -> jax.sharding.Mesh:
    """The mesh of a step made without shardings: one device, the first (where jax puts arrays)."""
    return make_mesh((1, 1, 1), devices=jax.devices()[:1])


def replicated() -> jax.sharding.NamedSharding:
    """Everything whole on `default_mesh()`: where a step made without shardings wants its
    arguments (put them there once, or each call puts them there again)."""
    return jax.sharding.NamedSharding(default_mesh(), jax.sharding.PartitionSpec())


def _under(mesh, jitted, in_shardings, *, donate):
    """`jitted` called (and so traced) with `mesh` as the current mesh, its arguments first put on
    their `in_shardings` where they are not (host arrays, arrays on the default device): traced with
    arguments off the mesh, the first call would be traced again once its outputs come back."""

    def placed(sharding, tree, donate):
        if sharding is None:  # unspecified: jit takes the argument as it is
            return tree

        def one(x):
            now = getattr(x, "sharding", None)  # on the device(s) but not on the mesh: placed too
            if getattr(now, "mesh", None) == sharding.mesh and now.is_equivalent_to(sharding, x.ndim):
                return x
            return jax.device_put(x, sharding, donate=donate and isinstance(x, jax.Array))

        return jax.tree.map(one, tree)

    def each(shardings, tree, donate):  # `shardings`: one sharding, or a tree of them like `tree`
        return jax.tree.map(lambda s, sub: placed(s, sub, donate), shardings, tree,
                            is_leaf=lambda s: s is None or isinstance(s, jax.sharding.Sharding))

    @functools.wraps(jitted)
    def call(*args):
        args = [each(s, a, d) for s, a, d in zip(in_shardings, args, donate, strict=True)]
        with jax.set_mesh(mesh):
            return jitted(*args)

    return call
