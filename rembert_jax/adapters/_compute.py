"""The jitted forward pass behind every adapter class, compiled once per distinct input shape.

`compiled_forward(...)` returns one `jax.jit` function per (task, config, policy, flags); jit's
own cache then holds one executable per input shape and structure, so a repeated call of the
same shape reuses the compiled code. `TRACE_COUNTS` counts how often each function was traced
(a test pins that repeated calls don't re-trace).

    task "base":       encoder.apply (with cache / cross-attention for decoders)
    task "causal_lm":  encoder.apply + the LM head on the kept positions (cache, cross-attention)
    other tasks:       heads.TaskModel.apply (multiple choice flattens [B, C, S] itself)

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
from rembert_jax.validation import INPUT_KEYS

from . import _tf_losses as tf_losses

TRACE_COUNTS: collections.Counter = collections.Counter()
LABEL_KEYS = ("labels", "start_positions", "end_positions")
_DECODER_KEYS = ("encoder_hidden_states", "encoder_attention_mask")


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
        if task in ("base", "causal_lm"):
            return _decoder_forward(task, config, policy, params, batch, rng, flags, loss_style, logits_to_keep)
        from rembert_jax.heads.task_model import TaskModel

        model_config = config
        if loss_style == "tf" and task == "token_classification":
            # Keras' token-classification head drops out with hidden_dropout_prob (spec §3).
            model_config = dataclasses.replace(config, classifier_dropout_prob=config.hidden_dropout_prob)
        model = TaskModel(model_config, task, policy)
        labels = {k: batch[k] for k in LABEL_KEYS if k in batch}
        if loss_style == "tf":
            batch = {k: v for k, v in batch.items() if k not in LABEL_KEYS}
        out = model.apply(params, batch, train=train, rng=rng, **flags)
        if loss_style == "tf" and labels:
            out["loss"] = tf_losses.tf_loss(task, out, labels)
        return out

    return jit(forward)


def _decoder_forward(task, config, policy, params, batch, rng, flags, loss_style, logits_to_keep):
    """The bare encoder, or the causal LM composed from the encoder and the LM head (so the KV
    cache, cross-attention and `logits_to_keep` reach the encoder)."""
    from rembert_jax import encoder

    inputs = {k: batch[k] for k in INPUT_KEYS if k in batch}
    extras = {k: batch.get(k) for k in _DECODER_KEYS}
    encoder_params = params if task == "base" else params["encoder"]
    encoded = encoder.apply(encoder_params, inputs, config=config, policy=policy, train=rng is not None, rng=rng, cache=batch.get("cache"), validate=False, **extras, **flags)
    if task == "base":
        return encoded

    from rembert_jax.heads import losses
    from rembert_jax.heads.task_model import TaskModel

    hidden = encoded["last_hidden_state"]  # [B, S, H]
    if logits_to_keep:
        hidden = hidden[:, -logits_to_keep:]  # [B, k, H]: transformers' logits_to_keep
    model = TaskModel(config, task, policy)
    out = {"logits": model.apply_head(params["head"], hidden)}  # [B, S or k, V]; the LM head has no dropout
    for name in ("cache", "hidden_states", "attentions", "cross_attentions"):
        if encoded.get(name) is not None:
            out[name] = encoded[name]
    if "labels" in batch:
        if loss_style == "tf":
            out["loss"] = tf_losses.tf_loss(task, out, {"labels": batch["labels"]})
        else:
            out["loss"] = losses.causal_lm_loss(out["logits"], jnp.asarray(batch["labels"]))
    return out
