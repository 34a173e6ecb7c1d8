"""The losses of transformers' Keras RemBERT heads (the HF TF loss mix-ins, spec §3.3), in fp32.

They differ from the PyTorch heads on purpose and the TF adapters keep the difference:
  - masked / causal LM: per-token sparse CE on relu(labels), masked by labels != -100, summed and
    divided by the number of kept tokens, returned with shape [1] (CLM shifts as PyTorch does);
  - token classification: the same, but kept where labels >= 0; shape [1];
  - sequence classification: per example, unreduced [B]: MSE when there is one label
    (rank-1 labels expanded), else sparse CE (no problem_type / multi-label logic);
  - multiple choice: per-example sparse CE [B];
  - question answering: per example (CE(start) + CE(end)) / 2 [B]; no clamping, no ignore index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rembert_jax.heads.losses import IGNORE_INDEX
from rembert_jax.tasks import get_task


def _sparse_ce(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Keras SparseCategoricalCrossentropy(from_logits=True, reduction=NONE): [..., C] -> [...]."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels.astype(jnp.int32))


def _masked_token_loss(logits: jax.Array, labels: jax.Array, keep: jax.Array) -> jax.Array:
    per_token = _sparse_ce(logits, jnp.maximum(labels, 0))  # relu(labels): any valid class, masked below
    keep = keep.astype(jnp.float32)
    return jnp.reshape(jnp.sum(per_token * keep) / jnp.sum(keep), (1,))  # [1]


def tf_loss(task: str, outputs: Mapping[str, Any], labels: Mapping[str, Any]) -> jax.Array:
    """The Keras head's loss of `task` from its logits and targets."""
    spec = get_task(task)
    if spec.labels == "span":
        start, end = (_sparse_ce(outputs[out], jnp.reshape(labels[key], (-1,)))
                      for out, key in zip(spec.outputs, spec.label_keys, strict=True))
        return (start + end) / 2.0  # [B]
    logits, target = outputs["logits"], jnp.asarray(labels["labels"])
    if spec.language_model:
        if spec.shifted:  # logits at t predict the label at t + 1
            logits, target = logits[:, :-1], target[:, 1:]
        return _masked_token_loss(logits, target, target != IGNORE_INDEX)
    if spec.labels == "token_classes":
        return _masked_token_loss(logits, target, target >= 0)
    if spec.labels == "classes" and logits.shape[-1] == 1:
        if target.ndim == 1:
            target = target[:, None]  # [B] -> [B, 1]
        return jnp.mean(optax.squared_error(logits.astype(jnp.float32), target.astype(jnp.float32)), axis=-1)
    return _sparse_ce(logits, target)  # sequence classification, multiple choice: [B]
