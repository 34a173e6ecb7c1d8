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


def dense(config: RemBertConfig, policy: DTypePolicy, features: int, axes: tuple[str, str], name: str) -> nn.Dense:
    """A head Dense, declared once: its logical axes ([in, out]) and transformers' init for Linear
    (kernel N(0, initializer_range), not truncated; zero bias)."""
    normal = nn.initializers.normal(stddev=config.initializer_range)
    return nn.Dense(features, dtype=policy.compute_dtype, param_dtype=policy.param_dtype, name=name,
                    kernel_init=nn.with_logical_partitioning(normal, axes),
                    bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), axes[1:]))


class LMHead(nn.Module):
    """hidden [..., H] -> logits [..., V] (float32)."""

    config: RemBertConfig
    policy: DTypePolicy = FP32

    @nn.compact
    def __call__(self, hidden: jax.Array, *, deterministic: bool = True) -> jax.Array:
        del deterministic  # the LM head has no dropout
        config, policy = self.config, self.policy
        z = dense(config, policy, config.output_embedding_size, ("embed", "embed_out"), "dense")(hidden)  # [.., O]
        z = activation(config.hidden_act)(z)
        z = nn.LayerNorm(epsilon=config.layer_norm_eps, use_fast_variance=False, dtype=policy.compute_dtype,
                         param_dtype=policy.param_dtype, name="ln",
                         scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), ("embed_out",)),
                         bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), ("embed_out",)))(z)
        logits = dense(config, policy, config.vocab_size, ("embed_out", "vocab"), "decoder")(z)  # [.., V]
        return logits.astype(jnp.float32)
