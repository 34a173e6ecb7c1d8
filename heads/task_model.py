"""`TaskModel`: the RemBERT encoder joined with one task head, as pure `init` / `apply` / `loss`.

The whole state is one params pytree `{"encoder": <rembert_jax.init_params tree>, "head": <the
Flax head's params>}`. The encoder has a pooler exactly when transformers' class has one
(`TASK_POOLER`). `TaskModel` is a frozen, hashable dataclass, so its methods can be jitted
directly (`jax.jit(model.loss)`) or the model passed as a static argument.

Batches are mappings with the tokenizer's keys (`input_ids` or `inputs_embeds`, `attention_mask`,
`token_type_ids`, `position_ids`) plus the targets: `labels`, or `start_positions` /
`end_positions` for question answering. Causal LM batches may add `encoder_hidden_states` /
`encoder_attention_mask` (a decoder with cross-attention). Multiple-choice inputs are
[B, C, S] (`inputs_embeds` [B, C, S, E]); they are flattened to [B*C, ...] for the encoder and
the scores reshaped to [B, C], as transformers does. The forward pass itself is `compose.forward`,
shared with the adapter classes and `generate`; the task's facts come from `rembert_jax.tasks`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from rembert_jax import DTypePolicy, RemBertConfig, init_params
from rembert_jax.attention import IMPLEMENTATIONS
from rembert_jax.compiler_options import jit
from rembert_jax.config import freeze
from rembert_jax.encoder import REMAT_POLICIES, segment_starts
from rembert_jax.precision import FP32
from rembert_jax.tasks import TASK_POOLER, Task, check_packable, get_task
from rembert_jax.validation import INPUT_KEYS, check_keys, validate_inputs

from .compose import DECODER_KEYS, flatten_choices, forward, task_loss_of
from .labels import has_labels, validate_labels
from .losses import IGNORE_INDEX
from .specs import head_module, init_head

_ENCODER_KEYS = INPUT_KEYS
Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class TaskModel:
    """RemBERT for one task: `TaskModel(config, "sequence_classification")`.

    task: one of `rembert_jax.heads.TASKS`; policy: a `DTypePolicy` or its name ("fp32", "bf16", "fp16").
    remat: the encoder's rematerialisation, "none" | "dots" | "full" (`rembert_jax.encoder.REMAT_POLICIES`):
      "dots" trades a little recomputation for much less training memory.
    attention_impl: "auto" | "xla" | "cudnn" (`rembert_jax.attention.select_attention_impl`).
    """

    config: RemBertConfig
    task: str
    policy: DTypePolicy = FP32
    remat: str = "none"
    attention_impl: str = "auto"

    def __post_init__(self):
        get_task(self.task)
        object.__setattr__(self, "config", freeze(self.config))  # hashable: TaskModel is a jit static argument
        object.__setattr__(self, "policy", DTypePolicy.from_name(self.policy))
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f"remat must be one of {tuple(REMAT_POLICIES)}, got {self.remat!r}")
        if self.attention_impl not in IMPLEMENTATIONS:
            raise ValueError(f"attention_impl must be one of {IMPLEMENTATIONS}, got {self.attention_impl!r}")
        if self.spec.labels == "span" and self.config.num_labels != 2:
            raise ValueError(f"{self.task} needs config.num_labels == 2 (start and end logits), "
                             f"got {self.config.num_labels}")

    @property
    def spec(self) -> Task:
        """The task's entry in the registry (`rembert_jax.tasks`)."""
        return get_task(self.task)

    @property
    def head(self) -> nn.Module:
        """The Flax Linen head module (owns only the head's weights)."""
        return head_module(self.task)(self.config, self.policy)

    @property
    def add_pooling_layer(self) -> bool:
        return TASK_POOLER[self.task]

    # ------------------------------------------------------------------ init

    def init(self, rng: jax.Array) -> Params:
        """Fresh `{"encoder", "head"}` params, initialised as transformers does (N(0, 0.02) kernels,
        zero biases, unit LayerNorm, zero padding row)."""
        return _init(self, rng)

    def _init(self, rng: jax.Array) -> Params:
        encoder_rng, head_rng = jax.random.split(rng)
        encoder = init_params(self.config, encoder_rng, add_pooling_layer=self.add_pooling_layer,
                              dtype=self.policy.param_dtype)
        return {"encoder": encoder, "head": self.init_head(head_rng)}

    def init_head(self, rng: jax.Array) -> Params:
        """Fresh head params only (e.g. for a checkpoint that has none)."""
        return init_head(self.config, self.task, rng, self.policy)

    # ----------------------------------------------------------------- apply

    def apply(self, params: Params, batch: Mapping[str, Any], *, train: bool = False, rng: jax.Array | None = None,
              output_hidden_states: bool = False, output_attentions: bool = False) -> dict[str, Any]:
        """Logits (`start_logits`/`end_logits` for QA), `loss` when the batch has targets, and
        `hidden_states` / `attentions` (/ `cross_attentions`) on request.

        Dropout runs only when `train` is True and `rng` is given.
        """
        if not isinstance(batch, Mapping):
            raise ValueError(f"batch must be a mapping of arrays, got {type(batch).__name__}")
        # nested lists become arrays (a new dict: the caller's batch is never changed)
        batch = {k: v if v is None or hasattr(v, "shape") else np.asarray(v) for k, v in batch.items()}
        inputs, extras, num_choices = self._encoder_inputs(batch)
        batch_size, length = self._batch_shape(batch)
        validate_inputs(inputs, self.config, **extras)  # on the host, before anything is traced
        targets = {}
        if has_labels(self.task, batch):
            validate_labels(self.task, batch, self.config, batch_size=batch_size, length=length,
                            num_choices=num_choices)
            targets = {key: batch[key] for key in self.spec.label_keys}
            if self.spec.shifted and "segment_ids" in inputs:
                targets["labels"] = _cut_at_segment_starts(targets["labels"], inputs["segment_ids"])
        if self.spec.pooled and "pooler" not in params["encoder"]:
            raise ValueError(f"{self.task} needs the pooler: params['encoder'] has no 'pooler' "
                             "(initialise with add_pooling_layer=True)")
        dropout = train and rng is not None
        return _forward(self, params, inputs, extras, targets, rng if dropout else None, num_choices=num_choices,
                        output_hidden_states=output_hidden_states, output_attentions=output_attentions)

    def loss(self, params: Params, batch: Mapping[str, Any], *, rng: jax.Array | None = None
             ) -> tuple[jax.Array, dict[str, Any]]:
        """(scalar float32 loss, outputs) for `jax.value_and_grad(model.loss, has_aux=True)`.

        Training mode (dropout) exactly when `rng` is given.
        """
        if not has_labels(self.task, batch):
            raise ValueError(f"batch has no targets for {self.task}: add {' and '.join(self.spec.label_keys)}")
        outputs = self.apply(params, batch, train=rng is not None, rng=rng)
        return outputs["loss"], outputs

    # --------------------------------------------------------------- helpers

    def _batch_shape(self, batch: Mapping[str, Any]) -> tuple[int, int]:
        x = batch.get("input_ids")
        shape = np.shape(x) if x is not None else np.shape(batch["inputs_embeds"])[:-1]
        return shape[0], shape[-1]  # not int(): symbolic under jax.export (a SavedModel's any-length inputs)

    def _encoder_inputs(self, batch: Mapping[str, Any]) -> tuple[dict, dict, int | None]:
        allowed = _ENCODER_KEYS + self.spec.label_keys + (DECODER_KEYS if self.spec.decoder else ())
        check_keys(batch, allowed, f"the {self.task} batch")
        if batch.get("input_ids") is None and batch.get("inputs_embeds") is None:
            raise ValueError("batch must contain input_ids or inputs_embeds")
        if batch.get("segment_ids") is not None:
            check_packable(self.task, "segment_ids (packed rows)")
        inputs = {k: batch[k] for k in _ENCODER_KEYS if batch.get(k) is not None}
        extras = {k: batch[k] for k in DECODER_KEYS if batch.get(k) is not None}
        if not self.spec.choices:
            return inputs, extras, None
        flat, num_choices = flatten_choices(inputs)  # [B, C, S] -> [B*C, S]
        return flat, extras, num_choices


def _cut_at_segment_starts(labels, segment_ids):
    """Causal LM on packed rows: the loss shifts labels by one along the row, so the last token of
    one sequence would be trained to predict the first token of the next. Those labels (every
    sequence start) become -100, ignored, as they would be with each sequence in its own row."""
    return jax.numpy.where(segment_starts(segment_ids), IGNORE_INDEX, labels)


@partial(jit, static_argnums=0)
def _init(model: TaskModel, rng: jax.Array) -> Params:
    return model._init(rng)


@partial(jit, static_argnums=0, static_argnames=("num_choices", "output_hidden_states", "output_attentions"))
def _forward(model: TaskModel, params: Params, inputs: dict, extras: dict, targets: dict, rng: jax.Array | None, *,
             num_choices: int | None, output_hidden_states: bool, output_attentions: bool) -> dict[str, Any]:
    """Encoder, head and loss as one jitted function (inputs already validated on the host)."""
    outputs = forward(model.task, model.config, model.policy, params, inputs, rng=rng, cross=extras,
                      num_choices=num_choices, remat=model.remat, attention_impl=model.attention_impl,
                      output_hidden_states=output_hidden_states, output_attentions=output_attentions)
    if targets:
        outputs["loss"] = task_loss_of(model.task, model.config, outputs, targets)
    return outputs
