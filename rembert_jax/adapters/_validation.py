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
from rembert_jax.heads.compose import DECODER_KEYS, check_decoding, flatten_choices
from rembert_jax.tasks import get_task
from rembert_jax.validation import INPUT_KEYS, validate_inputs


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
    spec = get_task(task, allow_base=True)
    check_decoding(task, config, caller=spec.architecture, cross=any(k in batch for k in DECODER_KEYS),
                   logits_to_keep=logits_to_keep)
    if not config.is_decoder:
        for key in DECODER_KEYS:
            batch.pop(key, None)

    inputs = {k: batch[k] for k in INPUT_KEYS if k in batch}
    num_choices = None
    if spec.choices:
        inputs, num_choices = flatten_choices(inputs)
    batch_size, length = validate_inputs(inputs, config, cache=cache,
                                         encoder_hidden_states=batch.get("encoder_hidden_states"),
                                         encoder_attention_mask=batch.get("encoder_attention_mask"))
    if spec.choices:
        batch_size //= num_choices

    if logits_to_keep:
        if not 0 <= logits_to_keep <= length:
            raise ValueError(f"logits_to_keep must be in [0, sequence length={length}], got {logits_to_keep}")
        if "labels" in batch:
            raise ValueError("labels cannot be combined with logits_to_keep (the loss needs every position's logits)")

    if spec.label_keys:
        from rembert_jax.heads.labels import has_labels, validate_labels

        if has_labels(task, batch):
            if loss_style == "tf":
                _validate_tf_labels(task, batch, config, batch_size, length, num_choices)
            else:
                validate_labels(task, batch, config, batch_size=batch_size, length=length, num_choices=num_choices)
    elif "labels" in batch:
        raise TypeError("RemBertModel takes no labels; use a head class (e.g. RemBertForMaskedLM)")
    return 0 if cache is None else int(np.asarray(cache["index"]))


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

    kind = get_task(task).labels
    if kind == "token_ids":
        check("labels", ((B, S),), config.vocab_size, low=None)
    elif kind == "token_classes":
        check("labels", ((B, S),), config.num_labels, low=None)
    elif kind == "classes":
        if config.num_labels == 1:
            check("labels", ((B,), (B, 1)), None)
        else:
            check("labels", ((B,),), config.num_labels)
    elif kind == "choice":
        check("labels", ((B,),), C)
    else:  # Keras QA: no clamping, no ignore index, so every position must index the sequence
        for name in get_task(task).label_keys:
            check(name, ((B,), (B, 1)), S)
