"""transformers-style classes over the JAX core: swap the import, keep the call sites.

PyTorch API (transformers 5 signatures; `from_pretrained` reads any format the converters read,
`save_pretrained` writes safetensors, `to_transformers()` hands over a real PyTorch model):
    RemBertModel, RemBertForMaskedLM, RemBertForCausalLM, RemBertForSequenceClassification,
    RemBertForMultipleChoice, RemBertForTokenClassification, RemBertForQuestionAnswering
TF API (transformers 4.x Keras signatures and per-example losses; reads and writes tf_model.h5):
    TFRemBertModel, TFRemBertForMaskedLM, TFRemBertForCausalLM, TFRemBertForSequenceClassification,
    TFRemBertForMultipleChoice, TFRemBertForTokenClassification, TFRemBertForQuestionAnswering

Inputs may be numpy arrays, JAX arrays, nested lists, torch tensors or TF tensors; outputs come
back as torch / TF tensors when any input was one, as JAX arrays for JAX inputs, else numpy.
Outputs are transformers' output classes (same field names and order; attribute, key, index and
`to_tuple()` access); `return_dict=False` gives tuples. Each distinct input shape compiles once.
"""

from __future__ import annotations

from ._adapter_outputs import (
    BaseModelOutputWithPoolingAndCrossAttentions,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TFBaseModelOutputWithPoolingAndCrossAttentions,
    TFCausalLMOutputWithCrossAttentions,
    TFMaskedLMOutput,
    TFMultipleChoiceModelOutput,
    TFQuestionAnsweringModelOutput,
    TFSequenceClassifierOutput,
    TFTokenClassifierOutput,
    TokenClassifierOutput,
)
from ._adapters_tf_api import (
    TFRemBertForCausalLM,
    TFRemBertForMaskedLM,
    TFRemBertForMultipleChoice,
    TFRemBertForQuestionAnswering,
    TFRemBertForSequenceClassification,
    TFRemBertForTokenClassification,
    TFRemBertModel,
    TFRemBertPreTrainedModel,
)
from ._adapters_torch_api import (
    RemBertForCausalLM,
    RemBertForMaskedLM,
    RemBertForMultipleChoice,
    RemBertForQuestionAnswering,
    RemBertForSequenceClassification,
    RemBertForTokenClassification,
    RemBertModel,
    RemBertPreTrainedModel,
)

__all__ = [
    "RemBertPreTrainedModel", "RemBertModel", "RemBertForMaskedLM", "RemBertForCausalLM",
    "RemBertForSequenceClassification", "RemBertForMultipleChoice", "RemBertForTokenClassification",
    "RemBertForQuestionAnswering",
    "TFRemBertPreTrainedModel", "TFRemBertModel", "TFRemBertForMaskedLM", "TFRemBertForCausalLM",
    "TFRemBertForSequenceClassification", "TFRemBertForMultipleChoice", "TFRemBertForTokenClassification",
    "TFRemBertForQuestionAnswering",
    "ModelOutput", "BaseModelOutputWithPoolingAndCrossAttentions", "MaskedLMOutput",
    "CausalLMOutputWithCrossAttentions", "SequenceClassifierOutput", "MultipleChoiceModelOutput",
    "TokenClassifierOutput", "QuestionAnsweringModelOutput",
    "TFBaseModelOutputWithPoolingAndCrossAttentions", "TFMaskedLMOutput", "TFCausalLMOutputWithCrossAttentions",
    "TFSequenceClassifierOutput", "TFMultipleChoiceModelOutput", "TFTokenClassifierOutput",
    "TFQuestionAnsweringModelOutput",
]
