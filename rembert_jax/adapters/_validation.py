"""Host-side checks of one adapter call, before anything is traced: every error names the argument.

Encoder inputs go through `rembert_jax.validation.validate_inputs` (ids in range, shapes, masks,
cache room); targets through the heads' checks (PyTorch rules) or the Keras rules below (TF
losses have no ignore index for QA and mask labels differently, spec §3.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rembert_jax import RemBertConfig
from rembert_jax.validation import INPUT_KEYS, validate_inputs

_DECODER_KEYS = ("encoder_hidden_states", "encoder_attention_mask")


def validate_call(task: str, batch: dict[str, Any], config: RemBertConfig, *, cache: Mapping | None,
                  loss_style: str, logits_to_keep: int = 0) -> int:
    """Check `batch` for `task`; return the number of cached positions (PL, 0 without a cache).

    Drops `encoder_hidden_states` / `encoder_attention_mask` from `batch` where the reference
    ignores them (an encoder, i.e. `config.is_decoder=False`), as transformers does.
    """
    if batch.get("input_ids") is None and batch.get("inputs_embeds") is None:
        raise ValueError("input_ids or inputs_embeds is required (you must specify exactly one of them)")
    if batch.get("input_ids") is not None and batch.get("inputs_embeds") is not None:
        raise ValueError("you cannot specify both input_ids and inputs_embeds; pass exactly one")
    if not config.is_decoder:
        for key in _DECODER_KEYS:
            batch.pop(key, None)
    elif task not in ("base", "causal_lm") and any(k in batch for k in _DECODER_KEYS):
        raise ValueError(f"encoder_hidden_states / encoder_attention_mask are only supported by RemBertModel and "
                         f"RemBertForCausalLM in decoder mode, not by the {task} head")

    inputs = {k: batch[k] for k in INPUT_KEYS if k in batch}
    num_choices = None
    if task == "multiple_choice":
        inputs, num_choices = _flatten_choices(inputs)
    batch_size, length = validate_inputs(inputs, config, cache=cache,
                                         encoder_hidden_states=batch.get("encoder_hidden_states"),
                                         encoder_attention_mask=batch.get("encoder_attention_mask"))
    if task == "multiple_choice":
        batch_size //= num_choices

    if logits_to_keep:
        if task != "causal_lm":
            raise TypeError("logits_to_keep is an argument of RemBertForCausalLM only")
        if not 0 <= logits_to_keep <= length:
            raise ValueError(f"logits_to_keep must be in [0, sequence length={length}], got {logits_to_keep}")
        if "labels" in batch:
            raise ValueError("labels cannot be combined with logits_to_keep (the loss needs every position's logits)")

    if task != "base":
        from rembert_jax.heads.labels import has_labels, validate_labels

        if has_labels(task, batch):
            if loss_style == "tf":
                _validate_tf_labels(task, batch, config, batch_size, length, num_choices)
            else:
                validate_labels(task, batch, config, batch_size=batch_size, length=length, num_choices=num_choices)
    elif "labels" in batch:
        raise TypeError("RemBertModel takes no labels; use a head class (e.g. RemBertForMaskedLM)")
    return 0 if cache is None else int(np.asarray(cache["index"]))


def _flatten_choices(inputs: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """[B, C, S] (inputs_embeds [B, C, S, E]) -> [B*C, S(, E)] after checking they agree."""
    main = "input_ids" if "input_ids" in inputs else "inputs_embeds"
    lead = np.shape(inputs[main])[:3]
    if len(np.shape(inputs[main])) != (3 if main == "input_ids" else 4):
        want = "[batch, num_choices, length]" + ("" if main == "input_ids" else " + [input_embedding_size]")
        raise ValueError(f"multiple choice {main} must have shape {want}, got {list(np.shape(inputs[main]))}")
    flat = {}
    for key, value in inputs.items():
        shape = np.shape(value)
        if key != main and key != "inputs_embeds" and tuple(shape) != tuple(lead):
            raise ValueError(f"multiple choice {key} must have shape {list(lead)} like {main}, got {list(shape)}")
        flat[key] = np.reshape(np.asarray(value), (-1, *shape[2:]))
    return flat, int(lead[1])


def _validate_tf_labels(task: str, batch, config: RemBertConfig, B: int, S: int, C: int | None) -> None:
    def check(name: str, shapes: tuple[tuple[int, ...], ...], high: int | None, low: int | None = 0) -> None:
        value = np.asarray(batch[name])
        if value.shape not in shapes:
            raise ValueError(f"{name} must have shape {' or '.join(str(list(s)) for s in shapes)}, "
                             f"got {list(value.shape)}")
        if high is None:
            return
        if not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"{name} must be integer class indices, got dtype {value.dtype}")
        bad = (value >= high) | ((value < low) if low is not None else False)
        if value.size and np.any(bad):
            allowed = f"[{low}, {high})" if low is not None else f"< {high} (negative values are ignored)"
            raise ValueError(f"{name} must be in {allowed}; found {int(value[bad].flat[0])}")

    if task in ("masked_lm", "causal_lm"):
        check("labels", ((B, S),), config.vocab_size, low=None)
    elif task == "token_classification":
        check("labels", ((B, S),), config.num_labels, low=None)
    elif task == "sequence_classification":
        if config.num_labels == 1:
            check("labels", ((B,), (B, 1)), None)
        else:
            check("labels", ((B,),), config.num_labels)
    elif task == "multiple_choice":
        check("labels", ((B,),), C)
    else:  # Keras QA: no clamping, no ignore index, so every position must index the sequence
        for name in ("start_positions", "end_positions"):
            check(name, ((B,), (B, 1)), S)
