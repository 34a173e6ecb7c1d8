"""The TF-API family: transformers 4.x's Keras `TFRemBert*` classes, computing with the JAX core.

    model = TFRemBertForSequenceClassification.from_pretrained("dir")   # tf_model.h5 (or PyTorch)
    out = model(encoded_batch, training=False)                           # dict as the first argument
    out = model(input_ids, attention_mask, token_type_ids, labels=labels)

What differs from the PyTorch family, as in the Keras classes (spec §3.3, §5.3):
  - positional order: input_ids, attention_mask, token_type_ids, position_ids, head_mask,
    inputs_embeds, [decoder arguments,] output_attentions, output_hidden_states, return_dict,
    [labels | start_positions, end_positions], training; the first argument may be a dict of them;
  - `training=` per call instead of a train/eval mode (default False);
  - losses per example ([B]: sequence classification, multiple choice, QA without clamping) or of
    shape [1] (masked / causal LM, token classification);
  - token classification drops out with `hidden_dropout_prob`;
  - `head_mask` raises NotImplementedError; the cache field is `past_key_values`;
  - `save_pretrained` writes config.json + tf_model.h5 (the Keras h5 layout).
TensorFlow itself is needed only to pass or receive TF tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _adapter_outputs as outputs
from ._adapter_base import RemBertAdapter
from ._adapter_checkpoints import KERAS_H5
from ._adapter_generate import GenerationMixin

_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds")
_DECODER = ("encoder_hidden_states", "encoder_attention_mask", "past_key_values", "use_cache")
_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "return_dict")


class TFRemBertPreTrainedModel(RemBertAdapter):
    """Base of the TF-API classes (transformers' `TFRemBertPreTrainedModel`)."""

    base_model_prefix = "rembert"
    _loss_style = "tf"
    _weights_format = KERAS_H5
    _cache_field = "past_key_values"

    def call(self, *args, training: bool = False, **kwargs):
        """transformers' Keras `call`: arguments by position or name, or a dict as the first one."""
        if args and isinstance(args[0], Mapping):
            packed = dict(args[0])
            if len(args) > 1:
                raise TypeError("pass the inputs either as one dict or positionally, not both")
            overlap = sorted(set(packed) & set(kwargs))
            if overlap:
                raise TypeError(f"{overlap} given both in the input dict and as keyword arguments")
            args, kwargs = (), {**packed, **kwargs}
        if "training" in kwargs:  # inside a packed dict
            training = kwargs.pop("training")
        return self._run(self._bind(args, kwargs), train=bool(training))

    def __call__(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def get_lm_head(self):
        raise AttributeError(f"{type(self).__name__} has no LM head")


class _TFLMMixin:
    def get_lm_head(self):
        """The prediction layer's weights: {"dense", "ln", "decoder"}; `get_bias()` as in Keras."""
        return _LMHead(self.params["head"])


class _LMHead:
    def __init__(self, params):
        self.params = params

    def get_bias(self) -> dict[str, Any]:
        return {"decoder_bias": self.params["decoder"]["bias"]}


class TFRemBertModel(TFRemBertPreTrainedModel):
    task = "base"
    _ARGS = (*_INPUTS, *_DECODER, *_OUTPUT_FLAGS)
    _output_class = outputs.TFBaseModelOutputWithPoolingAndCrossAttentions

    def __init__(self, config, params: Any = None, *, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, params, add_pooling_layer=add_pooling_layer, **kwargs)


class TFRemBertForMaskedLM(_TFLMMixin, TFRemBertPreTrainedModel):
    task = "masked_lm"
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFMaskedLMOutput


class TFRemBertForCausalLM(GenerationMixin, _TFLMMixin, TFRemBertPreTrainedModel):
    task = "causal_lm"
    _ARGS = (*_INPUTS, *_DECODER, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFCausalLMOutputWithCrossAttentions


class TFRemBertForSequenceClassification(TFRemBertPreTrainedModel):
    task = "sequence_classification"
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFSequenceClassifierOutput


class TFRemBertForMultipleChoice(TFRemBertPreTrainedModel):
    task = "multiple_choice"
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFMultipleChoiceModelOutput


class TFRemBertForTokenClassification(TFRemBertPreTrainedModel):
    task = "token_classification"
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFTokenClassifierOutput

    def _pack(self, out: dict[str, Any], return_dict: bool):
        packed = super()._pack(out, return_dict)
        if return_dict:
            return packed
        # The Keras class builds its tuple from `(logits,) + outputs[1:]`, which keeps the main
        # layer's empty pooler slot after the logits (spec §2.9); kept for drop-in compatibility.
        after_logits = 2 if out.get("loss") is not None else 1
        return packed[:after_logits] + (None,) + packed[after_logits:]


class TFRemBertForQuestionAnswering(TFRemBertPreTrainedModel):
    task = "question_answering"
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "start_positions", "end_positions")
    _output_class = outputs.TFQuestionAnsweringModelOutput


TF_CLASSES: tuple[type[TFRemBertPreTrainedModel], ...] = (
    TFRemBertModel, TFRemBertForMaskedLM, TFRemBertForCausalLM, TFRemBertForSequenceClassification,
    TFRemBertForMultipleChoice, TFRemBertForTokenClassification, TFRemBertForQuestionAnswering,
)
