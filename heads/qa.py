"""Extractive question-answering head (spec §3): one Dense H -> 2 named `qa_outputs`, split into
start and end logits. No dropout, as in transformers."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rembert_jax import DTypePolicy, RemBertConfig
from rembert_jax.precision import FP32

from .lm_head import dense


class QuestionAnsweringHead(nn.Module):
    """hidden [B, S, H] -> (start_logits [B, S], end_logits [B, S]), float32."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, hidden: jax.Array, *, deterministic: bool = True) -> tuple[jax.Array, jax.Array]:
        del deterministic  # no dropout in this head
        logits = dense(self.config, self.policy, 2, ("embed", "labels"), "qa_outputs")(hidden)  # [B, S, 2]
        logits = logits.astype(jnp.float32)
        return logits[..., 0], logits[..., 1]
