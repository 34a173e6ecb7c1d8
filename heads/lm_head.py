"""The LM prediction head shared by masked and causal LM (spec §3.1, `cls.predictions`).

    z = act(h @ dense.kernel + dense.bias)      # [.., H] -> [.., O]
    z = LayerNorm_O(z)                          # eps = layer_norm_eps, two-pass variance
    logits = z @ decoder.kernel + decoder.bias  # [.., O] -> [.., V], float32

The decoder has its own weights and bias and is never tied to the input embedding (whose width
is E, not O).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from rembert_jax import DTypePolicy, RemBertConfig
from rembert_jax.layers import activation
from rembert_jax.precision import FP32


def dense_init(config: RemBertConfig):
    """PyTorch's reference init for head Linear weights: N(0, initializer_range), not truncated."""
    return nn.initializers.normal(stddev=config.initializer_range)


class LMHead(nn.Module):
    """hidden [..., H] -> logits [..., V] (float32)."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, hidden: jax.Array, *, deterministic: bool = True) -> jax.Array:
        del deterministic  # the LM head has no dropout
        config, policy = self.config, self.policy
        dense = lambda features, name: nn.Dense(
            features, dtype=policy.compute_dtype, param_dtype=policy.param_dtype,
            kernel_init=dense_init(config), name=name)
        z = dense(config.output_embedding_size, "dense")(hidden)  # [.., O]
        z = activation(config.hidden_act)(z)
        z = nn.LayerNorm(epsilon=config.layer_norm_eps, use_fast_variance=False, dtype=policy.compute_dtype,
                         param_dtype=policy.param_dtype, name="ln")(z)
        logits = dense(config.vocab_size, "decoder")(z)  # [.., V]
        return logits.astype(jnp.float32)
