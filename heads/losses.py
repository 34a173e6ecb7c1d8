"""transformers' PyTorch head losses, exactly (spec §3.2), as pure fp32 functions.

Every loss upcasts logits to float32, reduces like `torch.nn` with `reduction="mean"` and returns
a scalar. Ignored targets (`ignore_index`, -100 unless said otherwise) count neither in the sum
nor in the denominator, so a batch whose targets are all ignored gives NaN, as PyTorch does.
Nothing here mutates its arguments (JAX arrays can't be, and numpy inputs are only read).

`problem_type` resolution for sequence classification follows transformers, except that
transformers writes the resolved value back into the model's config on the first call, and we
never do: the type is resolved from the config (if set) or else from the labels of each call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from rembert_jax import RemBertConfig

IGNORE_INDEX = -100


def cross_entropy(logits: jax.Array, labels: jax.Array, *, ignore_index: int = IGNORE_INDEX,
                  num_items_in_batch: jax.Array | int | None = None) -> jax.Array:
    """`torch.nn.functional.cross_entropy(logits, labels, ignore_index=...)`.

    logits: [N, C]; labels: [N] integers in [0, C) or `ignore_index`. Mean over the kept labels,
    or their sum divided by `num_items_in_batch` when given (transformers' `fixed_cross_entropy`).
    """
    logits, labels = jnp.asarray(logits, jnp.float32), jnp.asarray(labels)
    keep = labels != ignore_index  # [N]
    safe_labels = jnp.where(keep, labels, 0)  # any valid class: the term is masked out below
    per_item = optax.softmax_cross_entropy_with_integer_labels(logits, safe_labels)  # [N]
    total = jnp.sum(jnp.where(keep, per_item, 0.0))
    if num_items_in_batch is not None:
        return total / jnp.asarray(num_items_in_batch, jnp.float32)
    return total / jnp.sum(keep).astype(jnp.float32)  # 0/0 = NaN when all are ignored, like torch


def masked_lm_loss(logits: jax.Array, labels: jax.Array, *, num_items_in_batch=None) -> jax.Array:
    """RemBertForMaskedLM: CE over `logits` [B, S, V] vs `labels` [B, S], ignoring -100."""
    V = logits.shape[-1]
    return cross_entropy(logits.reshape(-1, V), labels.reshape(-1), num_items_in_batch=num_items_in_batch)


def causal_lm_loss(logits: jax.Array, labels: jax.Array, *, num_items_in_batch=None) -> jax.Array:
    """RemBertForCausalLM (transformers' `ForCausalLMLoss`): logits at t predict labels at t+1.

    logits [B, S, V], labels [B, S] (unshifted, like input_ids); -100 ignored.
    """
    V, labels = logits.shape[-1], jnp.asarray(labels)
    # Pad one ignored label on the right and shift left, as transformers does; the last position
    # then predicts nothing.
    pad = jnp.full(labels.shape[:-1] + (1,), IGNORE_INDEX, labels.dtype)
    shifted = jnp.concatenate([labels[..., 1:], pad], axis=-1)  # [B, S]
    return cross_entropy(logits.reshape(-1, V), shifted.reshape(-1), num_items_in_batch=num_items_in_batch)


def resolve_problem_type(config: RemBertConfig, labels) -> str:
    """transformers' rule: `config.problem_type` if set; else regression when num_labels == 1,
    single-label classification for integer labels, multi-label classification otherwise.

    Reads only `labels.dtype` (static under jit); never changes `config`.
    """
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return "single_label_classification"
    return "multi_label_classification"


def mse_loss(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """`torch.nn.MSELoss()`: mean squared error in fp32 (shapes must agree)."""
    return jnp.mean(optax.squared_error(predictions.astype(jnp.float32), targets.astype(jnp.float32)))


def bce_with_logits_loss(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """`torch.nn.BCEWithLogitsLoss()`: mean sigmoid binary cross-entropy in fp32."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), targets.astype(jnp.float32)))


def sequence_classification_loss(logits: jax.Array, labels: jax.Array, config: RemBertConfig) -> jax.Array:
    """RemBertForSequenceClassification: logits [B, NL]; labels per the resolved problem type.

    regression: NL == 1 -> MSE(logits.squeeze(), labels.squeeze()), else MSE(logits, labels);
    single_label_classification: CE(logits [B, NL], labels [B]) ignoring -100;
    multi_label_classification: BCEWithLogits(logits, labels) with multi-hot labels [B, NL].
    """
    problem_type = resolve_problem_type(config, labels)
    if problem_type == "regression":
        if config.num_labels == 1:
            return mse_loss(jnp.squeeze(logits), jnp.squeeze(labels))
        return mse_loss(logits, labels)
    if problem_type == "single_label_classification":
        return cross_entropy(logits.reshape(-1, config.num_labels), labels.reshape(-1))
    return bce_with_logits_loss(logits, labels)


def multiple_choice_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """RemBertForMultipleChoice: CE(logits [B, C], labels [B]) ignoring -100."""
    return cross_entropy(logits, labels)


def token_classification_loss(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """RemBertForTokenClassification: CE(logits [B, S, NL], labels [B, S]) ignoring -100."""
    NL = logits.shape[-1]
    return cross_entropy(logits.reshape(-1, NL), labels.reshape(-1))


def question_answering_loss(start_logits: jax.Array, end_logits: jax.Array, start_positions: jax.Array,
                            end_positions: jax.Array) -> jax.Array:
    """RemBertForQuestionAnswering: (CE(start) + CE(end)) / 2 over logits [B, S].

    Positions [B] (or [B, 1]) are clamped to [0, S] and S is ignored, so positions outside the
    input drop out of the mean. transformers clamps the caller's tensors in place; we clamp a copy.
    """
    S = start_logits.shape[-1]

    def prepare(positions):
        positions = jnp.asarray(positions)
        if positions.ndim > 1:
            positions = jnp.squeeze(positions, -1)
        return jnp.clip(positions, 0, S)  # [B]

    start_loss = cross_entropy(start_logits, prepare(start_positions), ignore_index=S)
    end_loss = cross_entropy(end_logits, prepare(end_positions), ignore_index=S)
    return (start_loss + end_loss) / 2
