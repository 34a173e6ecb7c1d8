"""The jitted forward pass behind every adapter class, compiled once per distinct input shape.

`compiled_forward(...)` returns one `jax.jit` function per (task, config, policy, flags); jit's
own cache then holds one executable per input shape and structure, so a repeated call of the
same shape reuses the compiled code. `TRACE_COUNTS` counts how often each function was traced
(a test pins that repeated calls don't re-trace).

    every task:  `rembert_jax.heads.compose.forward`, the one composition of the encoder and a head
                 (the bare encoder for "base"; cache, cross-attention and `logits_to_keep` for the
                 decoders; multiple-choice inputs [B, C, S] flattened by `flatten_choices`)

Losses are transformers' PyTorch losses (`loss_style="pytorch"`, via the heads) or the Keras
heads' per-example losses (`loss_style="tf"`, spec §3.3).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from rembert_jax import DTypePolicy, FrozenRemBertConfig
from rembert_jax.compiler_options import jit
from rembert_jax.tasks import LABEL_KEYS, get_task
from rembert_jax.validation import INPUT_KEYS

from . import _tf_losses as tf_losses

TRACE_COUNTS: collections.Counter = collections.Counter()


# Config fields that never change the computation: models read from different directories
# (whose config.json differ only in these) share their compiled functions.
_NON_COMPUTE_FIELDS = ("architectures", "id2label", "dtype", "output_attentions", "output_hidden_states",
                       "return_dict", "use_cache", "bos_token_id", "eos_token_id", "chunk_size_feed_forward",
                       "initializer_range", "is_encoder_decoder", "tie_word_embeddings")


@functools.lru_cache(maxsize=256)
def compute_config(config: FrozenRemBertConfig) -> FrozenRemBertConfig:
    """`config` without the fields (and stray JSON keys) the forward pass does not read: a model
    whose `config` changed only in those keeps its compiled functions."""
    fields = {f.name for f in dataclasses.fields(FrozenRemBertConfig)} - {"extra", *_NON_COMPUTE_FIELDS}
    return FrozenRemBertConfig(**{name: getattr(config, name) for name in fields})


@functools.lru_cache(maxsize=512)
def compiled_forward(task: str, config: FrozenRemBertConfig, policy: DTypePolicy, *, train: bool,
                     output_attentions: bool, output_hidden_states: bool, loss_style: str = "pytorch",
                     logits_to_keep: int = 0) -> Callable[[dict, dict, Any], dict]:
    """`f(params, batch, rng) -> outputs dict`, jitted; `batch` holds only the arrays given
    (inputs, labels, `encoder_hidden_states`, `encoder_attention_mask`, `cache`)."""
    key = (task, config, policy, train, output_attentions, output_hidden_states, loss_style, logits_to_keep)
    flags = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}

    def forward(params, batch, rng):
        TRACE_COUNTS[key] += 1  # runs only while tracing
        # transformers' fp32 matmuls are true fp32; JAX would use TF32 on GPUs (~1e-3 off).
        precision = "highest" if policy.compute_dtype == jnp.float32 else None
        with jax.default_matmul_precision(precision):
            return _task_forward(params, batch, rng if train else None)

    def _task_forward(params, batch, rng):
        from rembert_jax.heads import compose

        spec = get_task(task, allow_base=True)
        model_config = config
        if loss_style == "tf" and spec.keras_dropout not in (None, "classifier_dropout_prob"):
            # Keras' token-classification head drops out with hidden_dropout_prob (spec §3).
            model_config = dataclasses.replace(config, classifier_dropout_prob=getattr(config, spec.keras_dropout))
        inputs = {k: batch[k] for k in INPUT_KEYS if k in batch}
        inputs, num_choices = compose.flatten_choices(inputs) if spec.choices else (inputs, None)
        out = compose.forward(task, model_config, policy, params, inputs, rng=rng, cache=batch.get("cache"),
                      cross={k: batch.get(k) for k in compose.DECODER_KEYS}, num_choices=num_choices,
                      logits_to_keep=logits_to_keep, **flags)
        targets = {k: batch[k] for k in LABEL_KEYS if k in batch}
        if targets:
            out["loss"] = (tf_losses.tf_loss(task, out, targets) if loss_style == "tf"
                           else compose.task_loss_of(task, model_config, out, targets))
        return out

    return jit(forward)
