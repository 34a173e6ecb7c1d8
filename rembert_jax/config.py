"""`RemBertConfig`: every field, name and default of transformers' `RemBertConfig` (spec §1).

The config is a frozen dataclass, hashable and comparable, so it can be a static argument of
`jax.jit`. JSON keys are the attribute names, so `config.json` files written by transformers read
back unchanged; keys we do not model (e.g. the released file's `embedding_size`) are kept in
`extra` and written back out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")
_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
_BOOLEANS = ("use_cache", "is_decoder", "add_cross_attention", "tie_word_embeddings", "output_attentions",
             "output_hidden_states", "return_dict", "is_encoder_decoder")
CONFIG_NAME = "config.json"


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
        return hash(tuple(sorted((str(k), json.dumps(v, sort_keys=True)) for k, v in self._items.items())))

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


@dataclasses.dataclass(frozen=True, eq=True)
class RemBertConfig:
    """Configuration of a RemBERT model; field names and defaults are transformers'."""

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
    eos_token_id: int | None = 313
    is_decoder: bool = False
    add_cross_attention: bool = False
    tie_word_embeddings: bool = False
    # Generic fields of transformers' PretrainedConfig that the model reads.
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
        if self.architectures is not None:
            set_("architectures", tuple(self.architectures))
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
        need(self.hidden_size % self.num_attention_heads == 0,
             f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
             f"({self.num_attention_heads})")
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
        for name in _BOOLEANS:
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
        # Only reached for attributes that are not fields: expose stray config.json keys the way
        # transformers does (e.g. `config.embedding_size` of the released google/rembert file).
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def replace(self, **changes) -> RemBertConfig:
        """A copy with some fields changed (unknown names go to `extra`, as in `from_dict`)."""
        data = self.to_dict()
        data.update(changes)
        if "num_labels" in changes and "id2label" not in changes:
            data.pop("id2label", None)
            data.pop("label2id", None)
        return type(self).from_dict(data)

    # --------------------------------------------------------------------- JSON

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RemBertConfig:
        data = dict(data)
        data.pop("model_type", None)
        data.pop("label2id", None)  # derived from id2label
        if "torch_dtype" in data and "dtype" not in data:  # transformers < 4.56 spelling
            data["dtype"] = data.pop("torch_dtype")
        if "use_return_dict" in data:
            data["return_dict"] = data.pop("use_return_dict")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        extra.update(dict(data.get("extra", {})) if isinstance(data.get("extra"), Mapping) else {})
        extra.pop("extra", None)
        return cls(**known, extra=FrozenMap(extra))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if field.name == "extra":
                continue
            value = getattr(self, field.name)
            if field.name == "id2label":
                value = {str(k): v for k, v in value.items()}
                out["label2id"] = {v: int(k) for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        out.update(dict(self.extra))
        out["model_type"] = "rembert"
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> RemBertConfig:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
        if data.get("model_type", "rembert") != "rembert":
            raise ValueError(f"{path} describes model_type={data['model_type']!r}, not 'rembert'")
        try:
            return cls.from_dict(data)
        except ValueError as e:  # a field of the wrong type or value: say which file holds it
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides) -> RemBertConfig:
        """Read `path` (a directory holding config.json, or a JSON file) or a preset name."""
        path = os.fspath(path)
        if os.path.isdir(path):
            config = cls.from_json_file(os.path.join(path, CONFIG_NAME))
        elif os.path.isfile(path):
            config = cls.from_json_file(path)
        elif path in preset_names():
            config = cls.from_preset(path)
        else:
            raise FileNotFoundError(
                f"{path!r} is neither a directory with {CONFIG_NAME}, a JSON file, nor a preset "
                f"({', '.join(preset_names())})"
            )
        return config.replace(**overrides) if overrides else config

    def save_pretrained(self, directory: str | os.PathLike) -> str:
        text = self.to_json_string()  # before touching the disk: an unserialisable value fails here
        from .atomic_write import write_text_atomic

        return write_text_atomic(os.path.join(directory, CONFIG_NAME), text)  # never a half-written config.json

    @classmethod
    def from_preset(cls, name: str) -> RemBertConfig:
        """A preset shipped in `configs/`: `rembert` (full size) or `tiny` (tests)."""
        if name not in preset_names():
            raise ValueError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
        text = resources.files("rembert_jax.configs").joinpath(f"{name}.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))


def preset_names() -> tuple[str, ...]:
    files = resources.files("rembert_jax.configs").iterdir()
    return tuple(sorted(f.name[: -len(".json")] for f in files if f.name.endswith(".json")))
