"""Classification heads (spec §3): sequence classification, multiple choice, token classification.

Each is dropout(`classifier_dropout_prob`) followed by one Dense named `classifier`, as in
transformers' PyTorch classes (its TF token classifier used `hidden_dropout_prob`; we follow
PyTorch). Logits are float32.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rembert_jax import DTypePolicy, RemBertConfig
from rembert_jax.precision import FP32

from .lm_head import dense


def _dropout_classifier(module: nn.Module, features: jax.Array, num_outputs: int, deterministic: bool) -> jax.Array:
    """dropout -> Dense("classifier"), created inside `module`'s compact scope (so the params sit
    directly under `classifier/`)."""
    config, policy = module.config, module.policy
    features = nn.Dropout(config.classifier_dropout_prob)(features, deterministic=deterministic)
    logits = dense(config, policy, num_outputs, ("embed", "labels"), "classifier")(features)
    return logits.astype(jnp.float32)


class SequenceClassificationHead(nn.Module):
    """pooled [B, H] -> logits [B, NL]."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, pooled: jax.Array, *, deterministic: bool = True) -> jax.Array:
        return _dropout_classifier(self, pooled, self.config.num_labels, deterministic)


class MultipleChoiceHead(nn.Module):
    """pooled [B*C, H] of the flattened choices -> one score per choice [B*C] (reshape to [B, C])."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, pooled: jax.Array, *, deterministic: bool = True) -> jax.Array:
        return _dropout_classifier(self, pooled, 1, deterministic)[..., 0]  # [B*C, 1] -> [B*C]


class TokenClassificationHead(nn.Module):
    """hidden [B, S, H] -> logits [B, S, NL]."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, hidden: jax.Array, *, deterministic: bool = True) -> jax.Array:
        return _dropout_classifier(self, hidden, self.config.num_labels, deterministic)
