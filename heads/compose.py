"""The one composition of the encoder and a task head, used by `TaskModel`, the adapter classes
and `generate` (traced code: inputs are checked by the callers, on the host, before this runs).

    inputs [B, S] ──encoder.apply (KV cache, cross-attention)──> last_hidden_state [B, S, H]
                                                                 pooler_output [B, H]
      head reads pooled [B, H] or tokens [B, S, H]      (the registry's `pooled`)
      tokens kept: the last `logits_to_keep` (transformers' argument), or one slot `keep_at`
      head -> logits [B, S|k, ...] or start/end_logits  (the registry's `outputs`)
      multiple choice: inputs [B, C, S] flattened to [B*C, S] by `flatten_choices`, scores -> [B, C]

`task_loss_of` applies the registry's loss to those outputs and the batch's targets;
`check_decoding` holds the guards of the decoder-only arguments (cache, cross-attention inputs,
`logits_to_keep`, generation), for every caller.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from rembert_jax import DTypePolicy, RemBertConfig
from rembert_jax.tasks import BASE, REGISTRY, get_task

from .specs import head_module, task_loss

DECODER_KEYS = ("encoder_hidden_states", "encoder_attention_mask")
_CARRIED = ("cache", "hidden_states", "attentions", "cross_attentions")


def check_decoding(task: str, config: RemBertConfig | None, *, caller: str, cache: bool = False, cross: bool = False,
                   logits_to_keep: int = 0, generate: bool = False) -> None:
    """Refuse, with a message naming the fix, a decoder-only argument where `task` (the registry's
    `decoder` / `generates`) or `config.is_decoder` has no use for it. `caller` names the class
    or function in the messages; each flag says what the call passes."""
    spec = get_task(task, allow_base=True)
    every = (BASE, *REGISTRY.values())
    if generate and not spec.generates:
        generator = next(t for t in every if t.generates)
        raise ValueError(f"{caller} needs a TaskModel(config, {generator.name!r})")
    if generate and not config.is_decoder:
        raise ValueError(f"{caller} needs a decoder: build the model with config.replace(is_decoder=True) "
                         "(without it RemBERT attends bidirectionally and has no KV cache)")
    if cache and not spec.decoder:
        raise TypeError(f"{caller} takes no cache (only the model and the causal LM decode)")
    if cache and not config.is_decoder:
        raise ValueError("a cache needs a decoder: build the model with is_decoder=True "
                         "(from_pretrained(..., is_decoder=True))")
    if cross and config.is_decoder and not spec.decoder:
        names = " and ".join(t.architecture for t in every if t.decoder)
        raise ValueError(f"encoder_hidden_states / encoder_attention_mask are only supported by {names} in "
                         f"decoder mode, not by the {task} head")
    if logits_to_keep and not spec.generates:
        names = " and ".join(t.architecture for t in every if t.generates)
        raise TypeError(f"logits_to_keep is an argument of {names} only")


def flatten_choices(inputs: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """Multiple-choice inputs [B, C, S] (inputs_embeds [B, C, S, E], a 3-D mask [B, C, S, K]) ->
    [B*C, ...] after checking they agree; also the number of choices C."""
    main = "input_ids" if "input_ids" in inputs else "inputs_embeds"
    shape = np.shape(inputs[main])
    if len(shape) != (3 if main == "input_ids" else 4):
        want = "[batch, num_choices, length]" + ("" if main == "input_ids" else " + [input_embedding_size]")
        raise ValueError(f"multiple choice {main} must have shape {want}, got {list(shape)}")
    lead = tuple(shape[:2])
    flat = {}
    for key, value in inputs.items():
        shape = np.shape(value)
        if len(shape) < 3 or tuple(shape[:2]) != lead:
            raise ValueError(f"multiple choice {key} must have shape [batch={lead[0]}, num_choices={lead[1]}, "
                             f"length, ...] like {main}, got {list(shape)}")
        value = value if hasattr(value, "reshape") else np.asarray(value)
        flat[key] = value.reshape((-1, *shape[2:]))
    return flat, int(lead[1])


def forward(task: str, config: RemBertConfig, policy: DTypePolicy, params: Mapping[str, Any],
            inputs: Mapping[str, Any], *, rng: jax.Array | None = None, cache: Mapping | None = None,
            cross: Mapping[str, Any] | None = None, num_choices: int | None = None, logits_to_keep: int = 0,
            keep_at: jax.Array | None = None, remat: str = "none", attention_impl: str = "auto",
            output_hidden_states: bool = False, output_attentions: bool = False) -> dict[str, Any]:
    """The encoder, then the head of `task` ("base": the encoder's own outputs; `params` is then the
    bare encoder tree, else `{"encoder", "head"}`). Dropout runs when `rng` is given.

    cache / cross (`encoder_hidden_states`, `encoder_attention_mask`): for decoders, as
    `rembert_jax.apply` takes them. num_choices: the C of flattened multiple-choice inputs.
    logits_to_keep: only the last k positions go through the head (0: all). keep_at: a traced
    slot index; only that position goes through the head (generation without a cache).
    """
    from rembert_jax import encoder

    spec = get_task(task, allow_base=True)
    if spec is BASE:
        encoder_rng, head_rng = rng, None
        encoder_params = params
    else:
        encoder_rng, head_rng = jax.random.split(rng) if rng is not None else (None, None)
        encoder_params = params["encoder"]
    encoded = encoder.apply(encoder_params, inputs, config=config, policy=policy, train=rng is not None,
                            rng=encoder_rng, cache=cache, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, validate=False, remat=remat,
                            attention_impl=attention_impl, **(cross or {}))
    if spec is BASE:
        return encoded
    if spec.pooled:
        features = encoded["pooler_output"]  # [B(*C), H]
    else:
        features = encoded["last_hidden_state"]  # [B, S, H]
        if logits_to_keep:
            features = features[:, -logits_to_keep:]  # [B, k, H]: transformers' logits_to_keep
        if keep_at is not None:
            features = jax.lax.dynamic_slice_in_dim(features, keep_at, 1, axis=1)  # [B, 1, H]
    head = head_module(task)(config, policy)
    rngs = {"dropout": head_rng} if head_rng is not None else {}
    result = head.apply({"params": params["head"]}, features, deterministic=head_rng is None, rngs=rngs)
    result = result if len(spec.outputs) > 1 else (result,)
    if spec.choices:
        result = tuple(r.reshape(-1, num_choices) for r in result)  # [B*C] -> [B, C]
    outputs = dict(zip(spec.outputs, result, strict=True))
    for key in _CARRIED:
        if encoded.get(key) is not None:
            outputs[key] = encoded[key]
    return outputs


def task_loss_of(task: str, config: RemBertConfig, outputs: Mapping[str, Any],
                 targets: Mapping[str, Any]) -> jax.Array:
    """transformers' PyTorch loss of `task` (a float32 scalar) from `forward`'s outputs and the targets."""
    spec = get_task(task)
    loss = task_loss(task)
    extra = {"config": config} if "config" in inspect.signature(loss).parameters else {}
    return loss(*(outputs[k] for k in spec.outputs), *(jax.numpy.asarray(targets[k]) for k in spec.label_keys),
                **extra)
