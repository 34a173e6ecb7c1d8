"""The PyTorch-API family: transformers' `RemBert*` classes, computing with the JAX core.

    model = RemBertForSequenceClassification.from_pretrained("path/to/dir")   # any format
    out = model(input_ids=ids, attention_mask=mask, labels=labels)            # numpy, JAX, torch...
    out.loss, out.logits, out[0], out["logits"], out.to_tuple()

Call signatures follow transformers 5 (positional order included; `cache`, with the older
`past_key_values` accepted). Like a torch module, a model built from a config is in training
mode (dropout on) and one from `from_pretrained` in eval mode; `.eval()` / `.train()` switch;
`.to(device_or_dtype)` / `.cpu()` / `.cuda()` / `.half()` move or cast the weights
(`_device.py`); `device`, `dtype`, `main_input_name`, `can_generate()`, `num_parameters()`
and (causal LM) `generation_config` answer as transformers' do. `model.config` is the live config.
`save_pretrained` writes config.json + model.safetensors for transformers' class of the same name;
`to_transformers()` returns that class with these weights.
"""

from __future__ import annotations

import tempfile
from typing import Any

import jax

from . import _device as device_args
from . import _outputs as outputs
from ._base import RemBertAdapter, call_signature
from ._checkpoints import PYTORCH
from ._generate import GenerationMixin

_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds")
_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "return_dict")
_DECODER = ("encoder_hidden_states", "encoder_attention_mask")


class RemBertPreTrainedModel(RemBertAdapter):
    """Base of the PyTorch-API classes (transformers' `RemBertPreTrainedModel`)."""

    base_model_prefix = "rembert"
    _loss_style = "pytorch"
    _weights_format = PYTORCH
    _trains_after_construction = True  # a freshly built torch module is in training mode

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        signature = call_signature(cls._ARGS)

        def forward(self, *args, **kwargs):
            return self._run(self._bind(args, kwargs), train=self.training)

        forward.__signature__ = signature
        forward.__doc__ = (f"transformers' `{cls.__name__}.forward`: returns `{cls._output_class.__name__}` "
                           "(a tuple with return_dict=False), arrays in the caller's framework.")
        cls.forward = forward

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ torch-module manners

    def train(self, mode: bool = True):
        """Dropout on (`mode=True`) or off; returns the model, like `torch.nn.Module.train`."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Dropout off; returns the model, like `torch.nn.Module.eval`."""
        return self.train(False)

    def to(self, *args, **kwargs):
        """`torch.nn.Module.to`: a device moves the weights to that JAX device ("cuda" -> the first
        GPU), a dtype sets weights and compute to it (the dtype policy). Returns the model."""
        device, dtype = device_args.parse_to_arguments(args, kwargs)
        if dtype is not None:
            self.policy = device_args.policy_for(dtype)
            self.params = device_args.cast_params(self.params, dtype)
        if device is not None:
            self.params = jax.device_put(self.params, device)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device: int | str | None = None):
        return self.to(device if device is not None else "cuda")

    def half(self):
        return self.to("float16")

    def bfloat16(self):
        return self.to("bfloat16")

    def float(self):
        return self.to("float32")

    @property
    def device(self):
        """Where the weights are: a `torch.device` ("cpu", "cuda:N") when torch is installed."""
        return device_args.as_torch_device(device_args.device_of(self.params))

    @property
    def dtype(self):
        """The weights' dtype (a torch dtype when torch is installed)."""
        return device_args.as_torch_dtype(self.policy.param_dtype)

    def to_transformers(self):
        """transformers' PyTorch class of the same name holding these weights, in eval mode.

        Needs `transformers` and `torch` (the `test` extra)."""
        import transformers

        with tempfile.TemporaryDirectory(prefix="rembert-jax-") as tmp:
            self.save_pretrained(tmp)
            model = getattr(transformers, type(self).__name__).from_pretrained(tmp)
        return model.eval()


class RemBertModel(RemBertPreTrainedModel):
    """The bare encoder: `last_hidden_state`, `pooler_output` (and, as a decoder, `cache`)."""

    _ARGS = (*_INPUTS, *_DECODER, "cache", "use_cache", *_OUTPUT_FLAGS)
    _output_class = outputs.BaseModelOutputWithPoolingAndCrossAttentions

    def __init__(self, config, params: Any = None, *, add_pooling_layer: bool = True, **kwargs):
        super().__init__(config, params, add_pooling_layer=add_pooling_layer, **kwargs)


class RemBertForMaskedLM(RemBertPreTrainedModel):
    _ARGS = (*_INPUTS, *_DECODER, "labels", *_OUTPUT_FLAGS)
    _output_class = outputs.MaskedLMOutput


class RemBertForCausalLM(GenerationMixin, RemBertPreTrainedModel):
    """The LM head as a decoder (build it with `is_decoder=True`); `generate` decodes under jit."""

    _ARGS = (*_INPUTS, *_DECODER, "cache", "labels", "use_cache", *_OUTPUT_FLAGS, "logits_to_keep")
    _output_class = outputs.CausalLMOutputWithCrossAttentions


class RemBertForSequenceClassification(RemBertPreTrainedModel):
    """`problem_type` is resolved on the first call with labels and written back into `config`,
    as transformers does."""

    _ARGS = (*_INPUTS, "labels", *_OUTPUT_FLAGS)
    _output_class = outputs.SequenceClassifierOutput

    def _after_call(self, batch, config) -> None:
        if "labels" in batch and self.config.problem_type is None:
            from rembert_jax.heads.losses import resolve_problem_type

            self.config.problem_type = resolve_problem_type(config, batch["labels"])


class RemBertForMultipleChoice(RemBertPreTrainedModel):
    """Inputs [B, C, S] (inputs_embeds [B, C, S, E]); logits [B, C]; labels [B] in [0, C)."""

    _ARGS = (*_INPUTS, "labels", *_OUTPUT_FLAGS)
    _output_class = outputs.MultipleChoiceModelOutput


class RemBertForTokenClassification(RemBertPreTrainedModel):
    _ARGS = (*_INPUTS, "labels", *_OUTPUT_FLAGS)
    _output_class = outputs.TokenClassifierOutput


class RemBertForQuestionAnswering(RemBertPreTrainedModel):
    _ARGS = (*_INPUTS, "start_positions", "end_positions", *_OUTPUT_FLAGS)
    _output_class = outputs.QuestionAnsweringModelOutput
