"""Output objects with transformers' class names, field names and field order (spec §2.9).

Like transformers' `ModelOutput`, each is a dataclass and an ordered dict at once: fields are
attributes (`out.logits`), string keys (`out["logits"]`), and integer/slice indices into
`to_tuple()`, which skips the fields that are None (`out[0]` is the loss when labels were given,
else the logits). `keys()` lists only the fields that are set. The PyTorch family uses the names
and order of the installed transformers 5 (`cache`, with `past_key_values` readable as an alias);
the TF family uses the last Keras release's names (`TF...`, `past_key_values`).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

_CACHE_ALIASES = {"past_key_values": "cache"}


class ModelOutput(OrderedDict):
    """The base of every output class: a dataclass whose non-None fields are also dict items."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                super().__setitem__(field.name, value)

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self and key in _CACHE_ALIASES and _CACHE_ALIASES[key] in self:
                key = _CACHE_ALIASES[key]
            return dict(self.items())[key]
        return self.to_tuple()[key]

    def __setattr__(self, name, value):
        if name in {f.name for f in dataclasses.fields(self)} and value is not None:
            super().__setitem__(name, value)
        super().__setattr__(name, value)

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        super().__setattr__(key, value)

    def _immutable(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} does not support removing or bulk-updating fields")

    __delitem__ = setdefault = pop = update = popitem = _immutable

    def to_tuple(self) -> tuple[Any, ...]:
        """The values of the set fields, in field order (what `return_dict=False` returns)."""
        return tuple(self[k] for k in self.keys())

    def __reduce__(self):  # pickles as the dataclass, not as a dict
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self))


def _output(name: str, field_names: tuple[str, ...], doc: str) -> type[ModelOutput]:
    cls = dataclasses.make_dataclass(
        name, [(f, Any, dataclasses.field(default=None)) for f in field_names], bases=(ModelOutput,),
        eq=False, repr=True,
    )
    cls.__doc__ = doc
    cls.__module__ = __name__
    return cls


_POOLED = ("last_hidden_state", "pooler_output", "hidden_states", "cache", "attentions", "cross_attentions")
_CLS = ("loss", "logits", "hidden_states", "attentions")

BaseModelOutputWithPoolingAndCrossAttentions = _output(
    "BaseModelOutputWithPoolingAndCrossAttentions", _POOLED,
    "RemBertModel: last_hidden_state [B,S,H], pooler_output [B,H], hidden_states (L+1 x [B,S,H]), "
    "cache, attentions (L x [B,NH,S,K]), cross_attentions (L x [B,NH,S,Senc]).")
MaskedLMOutput = _output("MaskedLMOutput", _CLS, "RemBertForMaskedLM: loss [], logits [B,S,V].")
CausalLMOutputWithCrossAttentions = _output(
    "CausalLMOutputWithCrossAttentions",
    ("loss", "logits", "cache", "hidden_states", "attentions", "cross_attentions"),
    "RemBertForCausalLM: loss [], logits [B,S,V], cache (pass back as `cache=`).")
SequenceClassifierOutput = _output("SequenceClassifierOutput", _CLS,
                                   "RemBertForSequenceClassification: loss [], logits [B,NL].")
MultipleChoiceModelOutput = _output("MultipleChoiceModelOutput", _CLS,
                                    "RemBertForMultipleChoice: loss [], logits [B,C].")
TokenClassifierOutput = _output("TokenClassifierOutput", _CLS,
                                "RemBertForTokenClassification: loss [], logits [B,S,NL].")
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", ("loss", "start_logits", "end_logits", "hidden_states", "attentions"),
    "RemBertForQuestionAnswering: loss [], start_logits [B,S], end_logits [B,S].")

for _cls in (BaseModelOutputWithPoolingAndCrossAttentions, CausalLMOutputWithCrossAttentions):
    # transformers 5 renamed `past_key_values` to `cache` and keeps the old name readable.
    _cls.past_key_values = property(lambda self: self.cache)

# The TF twins (transformers 4.x Keras classes): `past_key_values` instead of `cache`; TF losses
# are per example ([B]) or shape [1] (spec §3.3).
_TF_POOLED = tuple("past_key_values" if f == "cache" else f for f in _POOLED)
TFBaseModelOutputWithPoolingAndCrossAttentions = _output(
    "TFBaseModelOutputWithPoolingAndCrossAttentions", _TF_POOLED, "TFRemBertModel outputs.")
TFMaskedLMOutput = _output("TFMaskedLMOutput", _CLS, "TFRemBertForMaskedLM: loss [1], logits [B,S,V].")
TFCausalLMOutputWithCrossAttentions = _output(
    "TFCausalLMOutputWithCrossAttentions",
    ("loss", "logits", "past_key_values", "hidden_states", "attentions", "cross_attentions"),
    "TFRemBertForCausalLM: loss [1], logits [B,S,V].")
TFSequenceClassifierOutput = _output("TFSequenceClassifierOutput", _CLS,
                                     "TFRemBertForSequenceClassification: loss [B], logits [B,NL].")
TFMultipleChoiceModelOutput = _output("TFMultipleChoiceModelOutput", _CLS,
                                      "TFRemBertForMultipleChoice: loss [B], logits [B,C].")
TFTokenClassifierOutput = _output("TFTokenClassifierOutput", _CLS,
                                  "TFRemBertForTokenClassification: loss [1], logits [B,S,NL].")
TFQuestionAnsweringModelOutput = _output(
    "TFQuestionAnsweringModelOutput", ("loss", "start_logits", "end_logits", "hidden_states", "attentions"),
    "TFRemBertForQuestionAnswering: loss [B], start_logits [B,S], end_logits [B,S].")
