"""`FrozenRemBertConfig`: the config the core computes with — frozen, hashable, validated.

The public `RemBertConfig` (`rembert_jax.config`) is mutable, like transformers' config; a mutable
object must never be a `jax.jit` cache key (a later assignment would silently reuse a program
compiled for the old value). So every jitted entry point (`apply`, `init_params`, `TaskModel`, the
adapters) first converts with `rembert_jax.config.freeze`, the one conversion, and jits over this
frozen value. Building it is where a config is validated, as transformers validates when a model is
built: `RemBertConfig(hidden_size=30)` is accepted, `init_params` / `RemBertModel(config)` raise.

Fields, names and defaults are transformers' (spec §1); keys no field models (e.g. the released
file's `embedding_size`) ride along in `extra`, so nothing is lost on the way back (`thaw()`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")
_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
# the boolean fields (also the type table of the mutable RemBertConfig's assignment check)
BOOL_FIELDS = ("use_cache", "is_decoder", "add_cross_attention", "tie_word_embeddings", "output_attentions",
             "output_hidden_states", "return_dict", "is_encoder_decoder")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float (not a bool, not a string such as "nan" or "1e-12")."""
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _shown(value) -> str:
    return f"{value!r} (a string)" if isinstance(value, str) else repr(value)


class FrozenMap(Mapping):
    """An immutable, hashable mapping (a dict can't be part of a static jit argument)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping | None = None):
        object.__setattr__(self, "_items", dict(items or {}))

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        items = self._items.items()
        return hash(tuple(sorted((str(k), json.dumps(v, sort_keys=True, default=repr)) for k, v in items)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


@dataclasses.dataclass(frozen=True, eq=True)
class FrozenRemBertConfig:
    """Configuration of a RemBERT model as the core reads it; field names and defaults are transformers'."""

    vocab_size: int = 250300
    hidden_size: int = 1152
    num_hidden_layers: int = 32
    num_attention_heads: int = 18
    input_embedding_size: int = 256
    output_embedding_size: int = 1664
    intermediate_size: int = 4608
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    classifier_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 312
    eos_token_id: int | tuple[int, ...] | None = 313
    is_decoder: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = False
    # Generic fields of transformers' PreTrainedConfig that the model reads.
    num_labels: int = 2
    id2label: Mapping[int, str] | None = None
    problem_type: str | None = None
    output_attentions: bool = False
    output_hidden_states: bool = False
    return_dict: bool = True
    chunk_size_feed_forward: int = 0
    is_encoder_decoder: bool = False
    architectures: tuple[str, ...] | None = None
    dtype: str | None = None
    # Keys of a config.json that no field above models; kept so a round trip is lossless.
    extra: Mapping[str, Any] = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)
        if self.id2label is not None and not isinstance(self.id2label, Mapping):
            raise ValueError(f"RemBertConfig: id2label must map label ids to names, got {_shown(self.id2label)}")
        if self.architectures is not None and (
                isinstance(self.architectures, str) or not isinstance(self.architectures, list | tuple)
                or not all(isinstance(a, str) for a in self.architectures)):
            raise ValueError(f"RemBertConfig: architectures must be a list of class names, got "
                             f"{_shown(self.architectures)}")
        if self.id2label is None:
            if not _is_int(self.num_labels) or self.num_labels < 1:
                raise ValueError(f"RemBertConfig: num_labels must be an integer >= 1, got {_shown(self.num_labels)}")
            set_("id2label", FrozenMap({i: f"LABEL_{i}" for i in range(self.num_labels)}))
        else:
            try:
                labels = {int(k): str(v) for k, v in dict(self.id2label).items()}
            except ValueError:
                raise ValueError(f"RemBertConfig: id2label keys must be label ids (integers), got "
                                 f"{list(self.id2label)!r}") from None
            set_("id2label", FrozenMap(labels))
            set_("num_labels", len(labels))
        for name in ("architectures", "eos_token_id"):  # lists (as JSON has them) are unhashable
            if isinstance(getattr(self, name), list | tuple):
                set_(name, tuple(getattr(self, name)))
        if not isinstance(self.extra, FrozenMap):
            set_("extra", FrozenMap(self.extra))
        self._validate()

    def _validate(self) -> None:
        def need(condition: bool, message: str) -> None:
            if not condition:
                raise ValueError(f"RemBertConfig: {message}")

        positive = (
            "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "input_embedding_size", "output_embedding_size", "intermediate_size",
            "max_position_embeddings", "type_vocab_size",
        )
        for name in positive:
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                 f"{name} must be a positive integer, got {value!r}")
        # transformers' wording (RemBertSelfAttention), plus the field names
        need(self.hidden_size % self.num_attention_heads == 0,
             f"The hidden size ({self.hidden_size}) is not a multiple of the number of attention heads "
             f"({self.num_attention_heads}): hidden_size must be divisible by num_attention_heads")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
            value = getattr(self, name)
            need(_is_number(value) and 0.0 <= value < 1.0, f"{name} must be in [0, 1), got {_shown(value)}")
        need(self.hidden_act in _ACTIVATIONS,
             f"hidden_act {self.hidden_act!r} is not supported; choose one of {_ACTIVATIONS}")
        need(_is_number(self.layer_norm_eps) and self.layer_norm_eps > 0,
             f"layer_norm_eps must be positive (a number), got {_shown(self.layer_norm_eps)}")
        need(_is_number(self.initializer_range) and self.initializer_range >= 0,
             f"initializer_range must be a number >= 0, got {_shown(self.initializer_range)}")
        need(_is_int(self.num_labels) and self.num_labels >= 1,
             f"num_labels must be an integer >= 1, got {_shown(self.num_labels)}")
        need(_is_int(self.chunk_size_feed_forward) and self.chunk_size_feed_forward >= 0,
             f"chunk_size_feed_forward must be an integer >= 0, got {_shown(self.chunk_size_feed_forward)}")
        for name in BOOL_FIELDS:
            value = getattr(self, name)
            need(isinstance(value, bool), f"{name} must be true or false, got {_shown(value)}")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            need(value is None or _is_int(value), f"{name} must be an integer or null, got {_shown(value)}")
        need(self.dtype is None or isinstance(self.dtype, str), f"dtype must be a name or null, got {_shown(self.dtype)}")
        need(self.problem_type in _PROBLEM_TYPES,
             f"problem_type {self.problem_type!r} is not one of {_PROBLEM_TYPES}")
        need(not self.add_cross_attention or self.is_decoder,
             "add_cross_attention=True requires is_decoder=True")
        if self.pad_token_id is not None:
            need(0 <= self.pad_token_id < self.vocab_size,
                 f"pad_token_id ({self.pad_token_id}) must be in [0, vocab_size={self.vocab_size})")

    # ------------------------------------------------------------------ derived

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in self.id2label.items()}

    def __getattr__(self, name: str):
        # Only reached for attributes that are not fields: stray config.json keys, as transformers
        # exposes them (e.g. `config.embedding_size` of the released google/rembert file).
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    # ------------------------------------------------------- back to the API config

    def thaw(self):
        """The mutable `RemBertConfig` with these values (for I/O and further edits)."""
        from .config import RemBertConfig

        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        values["id2label"] = dict(self.id2label)
        for name in ("architectures", "eos_token_id"):
            if isinstance(values[name], tuple):
                values[name] = list(values[name])
        return RemBertConfig(**values, **dict(self.extra))

    def replace(self, **changes) -> FrozenRemBertConfig:
        """A frozen copy with some fields changed, with `RemBertConfig`'s assignment rules."""
        return self.thaw().replace(**changes).frozen()

    def to_dict(self) -> dict[str, Any]:
        return self.thaw().to_dict()

    def to_json_string(self, use_diff: bool = True) -> str:
        return self.thaw().to_json_string(use_diff)

    def save_pretrained(self, save_directory) -> str:
        return self.thaw().save_pretrained(save_directory)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(FrozenRemBertConfig) if f.name != "extra")
FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FrozenRemBertConfig) if f.name != "extra"}
