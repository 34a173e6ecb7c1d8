"""The TF-API family: transformers 4.x's Keras `TFRemBert*` classes, computing with the JAX core.

    model = TFRemBertForSequenceClassification.from_pretrained("dir")   # tf_model.h5 (or PyTorch)
    out = model(encoded_batch, training=False)                           # dict as the first argument
    out = model(input_ids, attention_mask, token_type_ids, labels=labels)

What differs from the PyTorch family, as in the Keras classes (spec §3.3, §5.3):
  - `call` has the Keras classes' named parameters (inspectable) in their positional order:
    input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, [decoder
    arguments,] output_attentions, output_hidden_states, return_dict, [labels | start_positions,
    end_positions], training; the first argument may also be a dict of them, or Keras' list form
    `model([input_ids, attention_mask, ...])` (a list or tuple first argument is always that form);
  - outputs are `tf.Tensor`s whatever the inputs were (numpy, lists, JAX, torch), as the Keras
    classes return; so these classes need TensorFlow installed (the `tensorflow` extra);
  - `training=` per call instead of a train/eval mode (default False);
  - losses per example ([B]: sequence classification, multiple choice, QA without clamping) or of
    shape [1] (masked / causal LM, token classification);
  - token classification drops out with `hidden_dropout_prob`;
  - `head_mask` raises NotImplementedError; the cache field is `past_key_values`;
  - `save_pretrained` writes config.json + tf_model.h5 (the Keras h5 layout); with
    `saved_model=True` also `saved_model/<version>/`, a TensorFlow SavedModel of the JAX computation
    (jax2tf) whose `serving_default` signature is the Keras classes' (`_saved_model.py`);
  - `dummy_inputs` / `input_signature` are the Keras classes' (batch 1, length 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rembert_jax.tasks import get_task

from . import _io as io
from . import _outputs as outputs
from ._base import RemBertAdapter, call_signature
from ._checkpoints import KERAS_H5
from ._generate import GenerationMixin

_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds")
_DECODER = ("encoder_hidden_states", "encoder_attention_mask", "past_key_values", "use_cache")
_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "return_dict")


class TFRemBertPreTrainedModel(RemBertAdapter):
    """Base of the TF-API classes (transformers' `TFRemBertPreTrainedModel`)."""

    base_model_prefix = "rembert"
    _loss_style = "tf"
    _weights_format = KERAS_H5
    _cache_field = "past_key_values"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_ARGS" not in cls.__dict__:
            return

        def call(self, *args, **kwargs):
            return self._call(args, kwargs)

        call.__signature__ = call_signature(cls._ARGS, training=False)
        call.__doc__ = (f"transformers' Keras `{cls.__name__}.call`: arguments by position or name, a dict as "
                        f"the first argument, or Keras' list form; returns `{cls._output_class.__name__}` "
                        "(a tuple with return_dict=False) of tf.Tensors.")
        cls.call = call

    def _call(self, args: tuple, kwargs: dict):
        if args and isinstance(args[0], Mapping):
            packed = dict(args[0])
            if len(args) > 1:
                raise TypeError("pass the inputs either as one dict or positionally, not both")
            overlap = sorted(set(packed) & set(kwargs))
            if overlap:
                raise TypeError(f"{overlap} given both in the input dict and as keyword arguments")
            args, kwargs = (), {**packed, **kwargs}
        elif args and isinstance(args[0], list | tuple):
            args = (*_keras_list_form(args[0], self._ARGS), *args[1:])
        training = False
        if len(args) == len(self._ARGS) + 1:  # `training` is call's last positional parameter
            *args, training = args
            if "training" in kwargs:
                raise TypeError(f"{type(self).__name__}.call() got multiple values for argument 'training'")
        training = kwargs.pop("training", training)
        return self._run(self._bind(tuple(args), kwargs), train=bool(training))

    def __call__(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def _output_framework(self, tensors) -> str:
        _require_tensorflow(type(self).__name__)
        return io.TENSORFLOW  # the Keras classes answer in tf.Tensors whatever came in

    @property
    def dtype(self) -> str:
        """The weights' dtype name, as a Keras layer's `dtype`."""
        return self.policy.param_dtype.name

    @property
    def input_signature(self) -> dict:
        """The Keras classes' serving inputs: int32 [batch, length] ([batch, choices, length] for
        multiple choice) `tf.TensorSpec`s of input_ids, attention_mask and token_type_ids."""
        tf = _require_tensorflow(type(self).__name__)
        shape = [None, None, None] if get_task(self.task, allow_base=True).choices else [None, None]
        return {name: tf.TensorSpec(shape, tf.int32, name=name)
                for name in ("input_ids", "attention_mask", "token_type_ids")}

    @property
    def dummy_inputs(self) -> dict:
        """transformers' dummy batch: ones of shape [1, 2] ([1, 2, 2] for multiple choice), token
        types zeros (and encoder states [1, 2, hidden] for a cross-attending decoder)."""
        tf = _require_tensorflow(type(self).__name__)
        dummies = {}
        for name, spec in self.input_signature.items():
            shape = [1] + [2] * (len(spec.shape) - 1)
            dummies[name] = (tf.zeros if name == "token_type_ids" else tf.ones)(shape, tf.int32)
        if self.config.add_cross_attention and "encoder_hidden_states" in self._ARGS:
            dummies["encoder_hidden_states"] = tf.ones((1, 2, self.config.hidden_size), tf.float32)
        return dummies

    def save_pretrained(self, save_directory: str | os.PathLike, saved_model: bool = False, version: int = 1,
                        push_to_hub: bool = False, signatures=None) -> None:
        """config.json + tf_model.h5; with `saved_model=True` also `saved_model/<version>/`, a
        TensorFlow SavedModel of this model's forward pass that plain TensorFlow runs
        (`tf.saved_model.load(dir).signatures["serving_default"](input_ids=..., ...)`)."""
        if push_to_hub:
            raise NotImplementedError("push_to_hub is not supported; upload the directory with huggingface_hub")
        if signatures is not None:
            raise NotImplementedError("custom SavedModel signatures are not supported: the SavedModel serves the "
                                      "Keras classes' serving_default signature")
        super().save_pretrained(save_directory)
        if saved_model:
            from ._saved_model import save_saved_model

            save_saved_model(self, os.path.join(os.fspath(save_directory), "saved_model", str(version)))

    def get_lm_head(self):
        raise AttributeError(f"{type(self).__name__} has no LM head")


def _keras_list_form(values: list | tuple, names: tuple[str, ...]) -> tuple:
    """`model([input_ids, attention_mask, ...])`: the elements are the arguments in call order,
    as transformers' Keras classes read any list or tuple first argument."""
    if len(values) > len(names):
        raise TypeError(f"the Keras list form takes at most {len(names)} inputs ({', '.join(names)}), got {len(values)}")
    first = values[0] if values else None
    if isinstance(first, int | float) or (isinstance(first, list) and first and isinstance(first[0], int | float)):
        raise ValueError("a list as the first argument is Keras' list form [input_ids, attention_mask, ...] "
                         "(transformers' TF models read it so); pass token ids as an array "
                         "(np.array / tf.constant) or as input_ids=[[...]]")
    return tuple(values)


def _require_tensorflow(owner: str):
    try:
        import tensorflow as tf
    except ImportError:  # ModuleNotFoundError naming the package, as Python's own import error does
        raise ModuleNotFoundError(f"{owner} returns tf.Tensors, like transformers' Keras classes, and needs "
                                  "TensorFlow: pip install 'rembert-jax[tensorflow]' (or use the PyTorch-API class "
                                  "of the same name)", name="tensorflow") from None
    return tf


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
    _ARGS = (*_INPUTS, *_DECODER, *_OUTPUT_FLAGS)
    _output_class = outputs.TFBaseModelOutputWithPoolingAndCrossAttentions

    def __init__(self, config, params: Any = None, *, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, params, add_pooling_layer=add_pooling_layer, **kwargs)


class TFRemBertForMaskedLM(_TFLMMixin, TFRemBertPreTrainedModel):
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFMaskedLMOutput


class TFRemBertForCausalLM(GenerationMixin, _TFLMMixin, TFRemBertPreTrainedModel):
    _ARGS = (*_INPUTS, *_DECODER, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFCausalLMOutputWithCrossAttentions


class TFRemBertForSequenceClassification(TFRemBertPreTrainedModel):
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFSequenceClassifierOutput


class TFRemBertForMultipleChoice(TFRemBertPreTrainedModel):
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "labels")
    _output_class = outputs.TFMultipleChoiceModelOutput


class TFRemBertForTokenClassification(TFRemBertPreTrainedModel):
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
    _ARGS = (*_INPUTS, *_OUTPUT_FLAGS, "start_positions", "end_positions")
    _output_class = outputs.TFQuestionAnsweringModelOutput


TF_CLASSES: tuple[type[TFRemBertPreTrainedModel], ...] = (
    TFRemBertModel, TFRemBertForMaskedLM, TFRemBertForCausalLM, TFRemBertForSequenceClassification,
    TFRemBertForMultipleChoice, TFRemBertForTokenClassification, TFRemBertForQuestionAnswering,
)
