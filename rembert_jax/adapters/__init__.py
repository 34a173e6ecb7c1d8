"""transformers-style classes over the JAX core: swap the import, keep the call sites.

    from rembert_jax import RemBertForSequenceClassification
    model = RemBertForSequenceClassification.from_pretrained("path/to/dir", num_labels=3)
    out = model(**tokenizer(texts, return_tensors="pt", padding=True), labels=labels)
    out.loss, out.logits                    # torch tensors in, torch tensors out

PyTorch API (transformers 5 signatures; `from_pretrained` reads PyTorch, Keras h5, original TF
and orbax checkpoints, auto-detected; `save_pretrained` writes safetensors; `to_transformers()`
hands over a real PyTorch model; `.train()` / `.eval()` switch dropout; `generate` on the causal LM):
    RemBertModel, RemBertForMaskedLM, RemBertForCausalLM, RemBertForSequenceClassification,
    RemBertForMultipleChoice, RemBertForTokenClassification, RemBertForQuestionAnswering
TF API (transformers 4.x Keras signatures, `training=`, per-example losses; reads and writes
tf_model.h5):
    TFRemBertModel, TFRemBertForMaskedLM, TFRemBertForCausalLM, TFRemBertForSequenceClassification,
    TFRemBertForMultipleChoice, TFRemBertForTokenClassification, TFRemBertForQuestionAnswering

Inputs may be numpy arrays, JAX arrays, nested lists, torch tensors or TF tensors; the PyTorch
family answers in torch / TF tensors when any input was one, JAX arrays for JAX inputs, else numpy;
the TF family always answers in tf.Tensors, as the Keras classes do.
Outputs are transformers' output classes (same field names and order; attribute, key, index and
`to_tuple()` access); `return_dict=False` gives tuples. Each distinct input shape compiles once.

Known differences from transformers (all of them: the README's "Differences from transformers"): the decoder cache is this project's fixed-size KV cache (a
dict of JAX arrays, `max_position_embeddings` slots unless made with `model.init_cache`), passed
back as `cache=` / `past_key_values=`; `generate` returns [B, S + max_new_tokens], padding rows that
stopped early; outputs are not autograd tensors (train with `rembert_jax.train`); `head_mask`
raises NotImplementedError; the dtype policy is `policy="fp32" | "bf16" | "fp16"`.
"""

from __future__ import annotations

from ._outputs import (
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
from ._tf_api import (
    TFRemBertForCausalLM,
    TFRemBertForMaskedLM,
    TFRemBertForMultipleChoice,
    TFRemBertForQuestionAnswering,
    TFRemBertForSequenceClassification,
    TFRemBertForTokenClassification,
    TFRemBertModel,
    TFRemBertPreTrainedModel,
)
from ._torch_api import (
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
