"""Fresh weights for the parts a checkpoint lacks (a head on top of a base checkpoint, say).

Initialised as transformers does (normal(initializer_range) kernels, zero biases, unit
LayerNorm, zero padding row): the encoder through `rembert_jax.params`, a head by its own Flax
module (`rembert_jax.heads.init_head`, the one place head weights are declared).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from rembert_jax.config import RemBertConfig
from rembert_jax.heads import init_head
from rembert_jax.params import init_from_specs, init_params, param_specs

from .names import BASE, Name


def fresh_params(config: RemBertConfig, task: str, names: Sequence[Name], rng: jax.Array | int = 0) -> dict:
    """A params tree holding (at least) every leaf that `names` point into, freshly initialised.

    Only the parts that are needed are initialised, so a head on a full-size base checkpoint
    doesn't build a second 2 GB encoder."""
    if isinstance(rng, int):
        rng = jax.random.PRNGKey(rng)
    encoder_rng, head_rng = jax.random.split(rng)
    is_task = task != BASE
    need_encoder = any(n.part != "head" for n in names)
    need_head = any(n.part == "head" for n in names)
    out: dict = {}
    if need_encoder:
        pooler = any(n.part == "pooler" for n in names)
        if all(n.part in ("pooler", "head") for n in names):  # e.g. seq-cls from an MLM checkpoint
            specs = {"pooler": param_specs(config)["pooler"]}
            encoder = init_from_specs(specs, encoder_rng, std=config.initializer_range)
        else:
            encoder = init_params(config, encoder_rng, add_pooling_layer=pooler)
        encoder = jax.tree_util.tree_map(np.asarray, encoder)
        if not is_task:
            return encoder
        out["encoder"] = encoder
    if need_head:
        head = init_head(config, task, head_rng)
        out["head"] = jax.tree_util.tree_map(np.asarray, head)
    return out
