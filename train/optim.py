"""The optimizer: AdamW with warmup and decay, a weight-decay mask, clipping, accumulation, and
optional layer-wise learning-rate decay, as one optax chain.

The conventions match `torch.optim.AdamW` + transformers' schedules, so a PyTorch recipe carries
over unchanged: weight decay is decoupled and multiplied by the learning rate; the learning rate
at optimizer update `n` (counting from 0) is `schedule(n)`, like `LambdaLR`; biases and LayerNorm
parameters get no weight decay.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from .run_config import OptimSection


def make_schedule(optim: OptimSection, total_steps: int) -> optax.Schedule:
    """Linear warmup from 0 to the peak over `warmup_steps`, then linear / cosine decay to
    `end_learning_rate` at `total_steps` (or constant)."""
    peak, end, warmup = optim.learning_rate, optim.end_learning_rate, optim.warmup_steps
    decay_steps = max(total_steps - warmup, 1)
    if optim.schedule == "linear":
        after = optax.linear_schedule(peak, end, decay_steps)
    elif optim.schedule == "cosine":
        after = optax.cosine_decay_schedule(peak, decay_steps, alpha=end / peak)
    else:
        after = optax.constant_schedule(peak)
    if warmup == 0:
        return after
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), after], [warmup])


def _path_names(path) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def decay_mask(params) -> Any:
    """True where weight decay applies: every weight except biases and LayerNorm parameters.

    LayerNorms are the `ln` sub-trees of our encoder and heads (Flax `LayerNorm` names its
    parameters `scale` and `bias`), matching transformers' usual `["bias", "LayerNorm.weight"]`.
    """

    def decays(path, _):
        names = _path_names(path)
        return not (names[-1] in ("bias", "scale") or "ln" in names)

    return jax.tree_util.tree_map_with_path(decays, params)


def layer_decay_multipliers(params, decay: float, num_layers: int) -> Any:
    """Per-parameter learning-rate multipliers for layer-wise decay (ELECTRA's convention).

    Depth 0 is the embeddings (and the embedding projection), layer i (0-based) is depth i + 1,
    the pooler depth L + 1, the task head depth L + 2; the multiplier is decay ** (L + 2 - depth).
    Our encoder layers are stacked on a leading L axis, so their multiplier is an array
    [L, 1, ...] that broadcasts over the stacked parameter.
    """
    top = num_layers + 2
    per_layer = decay ** (top - 1 - jnp.arange(num_layers, dtype=jnp.float32))  # [L]

    def multiplier(path, leaf):
        names = _path_names(path)
        if "layers" in names:
            return per_layer.reshape((num_layers,) + (1,) * (leaf.ndim - 1))
        if "embeddings" in names or "projection" in names:
            return jnp.float32(decay**top)
        if "pooler" in names:
            return jnp.float32(decay)
        return jnp.float32(1.0)  # the task head

    return jax.tree_util.tree_map_with_path(multiplier, params)


def scale_by_tree(multipliers) -> optax.GradientTransformation:
    """Multiply each update by the matching leaf of `multipliers` (a fixed tree of arrays)."""

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params
        return jax.tree_util.tree_map(lambda u, m: u * m.astype(u.dtype), updates, multipliers), state

    return optax.GradientTransformation(init, update)


def make_optimizer(optim: OptimSection, params, *, total_steps: int, num_layers: int):
    """The optax transformation for `params` (whose tree fixes the masks), and its schedule.

    With `grad_accum_steps = k > 1` the chain is wrapped in `optax.MultiSteps`: each call of the
    train step feeds one micro-batch, and the parameters move every k calls by the mean gradient.
    """
    schedule = make_schedule(optim, total_steps)
    # Always in the chain (an infinite norm never clips), so that turning clipping on when resuming
    # after a NaN stop keeps the optimizer state's structure.
    max_norm = optim.max_grad_norm if optim.max_grad_norm is not None else float("inf")
    chain = [optax.clip_by_global_norm(max_norm)]
    chain.append(optax.adamw(schedule, b1=optim.b1, b2=optim.b2, eps=optim.eps,
                             weight_decay=optim.weight_decay, mask=decay_mask(params)))
    if optim.layer_decay is not None and optim.layer_decay != 1.0:
        # Scaling the final update scales the lr of both the Adam step and the decoupled decay.
        chain.append(scale_by_tree(layer_decay_multipliers(params, optim.layer_decay, num_layers)))
    tx = optax.chain(*chain)
    if optim.grad_accum_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=optim.grad_accum_steps)
    return tx, schedule
