"""`RemBertConfig`: transformers' RemBERT config — every field, name, default and manner (spec §1).

Design (issue 17): two types, one conversion.
  - `RemBertConfig` (this module, public) behaves like transformers' config: mutable
    (`config.num_labels = 3` rebuilds `id2label` / `label2id`, `config.is_decoder = True`, unknown
    attributes kept), type-checked on assignment, lenient at creation (a hidden size not divisible by
    the heads is accepted here), with transformers' JSON API (`to_dict`, `to_diff_dict`,
    `to_json_string`, `to_json_file`, `from_json_file`, `from_pretrained(..., subfolder=)`,
    `save_pretrained`, `sub_configs`). It is deliberately unhashable: never a jit cache key.
  - `FrozenRemBertConfig` (`rembert_jax.frozen_config`) is what the core computes with: frozen,
    hashable, validated. `freeze(config)` below is the one conversion; `config.frozen()` calls it, and
    so does every jitted entry point (`apply`, `init_params`, `TaskModel`, the adapter classes) before
    anything is traced, so the validation errors of transformers' model construction surface there.
Everything the README shows keeps working with either type: `init_params(config, ...)`,
`apply(..., config=config)`, `TaskModel(config, task)`. To jit your own function over a config,
make the frozen value its static argument: `jax.jit(f, static_argnames="config")(x, config=config.frozen())`.

JSON keys are the attribute names, so `config.json` files written by transformers read back
unchanged; keys we do not model (e.g. the released file's `embedding_size`) are kept as attributes
and written back out.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, ClassVar

from .configs import preset_names
from .frozen_config import BOOL_FIELDS, FIELD_DEFAULTS, FIELD_NAMES, FrozenMap, FrozenRemBertConfig

logger = logging.getLogger("rembert_jax")
CONFIG_NAME = "config.json"

# transformers' PreTrainedConfig fields and their defaults: `to_diff_dict` writes them only when they
# differ; the RemBERT fields are always written (transformers diffs against PreTrainedConfig()).
_GENERIC_DEFAULTS = {
    "architectures": None, "output_hidden_states": False, "output_attentions": False, "return_dict": True,
    "dtype": None, "chunk_size_feed_forward": 0, "is_encoder_decoder": False, "problem_type": None,
    "id2label": {0: "LABEL_0", 1: "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1},
}
_INTS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "input_embedding_size",
         "output_embedding_size", "intermediate_size", "max_position_embeddings", "type_vocab_size",
         "chunk_size_feed_forward")
_FLOATS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob", "initializer_range",
           "layer_norm_eps")
_OPTIONAL_INTS = ("pad_token_id", "bos_token_id")
_OPTIONAL_STRS = ("problem_type",)
# the keys a config.json may carry under an older name
_ALIASES = {"torch_dtype": "dtype", "use_return_dict": "return_dict", "name_or_path": "_name_or_path"}


def _check_type(name: str, value: Any) -> None:
    """transformers' strict dataclass check of an assignment: TypeError naming the field."""
    def fail(expected: str):
        raise TypeError(f"RemBertConfig.{name} expects {expected}, got {type(value).__name__} ({value!r})")

    is_int = isinstance(value, int) and not isinstance(value, bool)
    if name in _INTS and not is_int:
        fail("an int")
    if name in _FLOATS and not (is_int or isinstance(value, float)):
        fail("a float")
    if name in BOOL_FIELDS and not isinstance(value, bool):
        fail("a bool")
    if name == "hidden_act" and not isinstance(value, str):
        fail("a str")
    if name in _OPTIONAL_INTS and value is not None and not is_int:
        fail("an int or None")
    if name == "eos_token_id" and value is not None and not is_int and not (
            isinstance(value, list | tuple) and all(isinstance(v, int) for v in value)):
        fail("an int, a list of ints or None")
    if name in _OPTIONAL_STRS and value is not None and not isinstance(value, str):
        fail("a str or None")
    if name in ("id2label", "label2id") and value is not None and not isinstance(value, Mapping):
        fail("a dict or None")
    if name == "architectures" and value is not None and (
            not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value)):
        fail("a list of class names or None")


class RemBertConfig:
    """Configuration of a RemBERT model, with transformers' fields, defaults and behaviour.

    `RemBertConfig(**fields)`: keyword arguments only (as transformers 5); unknown keys become
    attributes. `num_labels` is derived from `id2label` and assigning it rebuilds both label maps.
    `frozen()` gives the validated, hashable `FrozenRemBertConfig` the core computes with.
    """

    model_type: ClassVar[str] = "rembert"
    sub_configs: ClassVar[dict[str, type]] = {}  # RemBERT nests no other config
    attribute_map: ClassVar[dict[str, str]] = {}
    def __hash__(self):  # mutable: never a jit cache key (a later assignment would reuse a stale program)
        raise TypeError("unhashable type: 'RemBertConfig' (it is mutable, as transformers' config is); pass "
                        "config.frozen() where a hashable config is needed, e.g. as a static jax.jit argument")

    def __init__(self, *args, **kwargs):
        if args:
            raise ValueError(f"RemBertConfig accepts only keyword arguments, but found {len(args)} positional args.")
        nested = kwargs.pop("extra", None)  # stray keys nested under "extra" (our older to_dict)
        if isinstance(nested, Mapping):
            kwargs = {**nested, **kwargs}
        kwargs = {_ALIASES.get(k, k): v for k, v in kwargs.items() if k != "model_type"}
        object.__setattr__(self, "_name_or_path", str(kwargs.pop("_name_or_path", "")))
        id2label, label2id = kwargs.pop("id2label", None), kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        for name in FIELD_NAMES:
            if name not in ("num_labels", "id2label"):
                setattr(self, name, kwargs.pop(name, FIELD_DEFAULTS[name]))
        object.__setattr__(self, "id2label", None)
        if id2label is None:
            self.num_labels = 2 if num_labels is None else num_labels
        else:
            if num_labels is not None and num_labels != len(id2label):
                logger.warning("You passed `num_labels=%s` which is incompatible to the `id2label` map of length "
                               "`%s`.", num_labels, len(id2label))
            self.id2label = id2label
            if label2id is not None:
                object.__setattr__(self, "label2id", dict(label2id))
        for name, value in kwargs.items():  # stray keys, kept as transformers keeps them
            setattr(self, name, value)
        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ValueError('`problem_type="single_label_classification"` requires `num_labels > 1`. For binary '
                             'classification use `num_labels=2`, or use `problem_type="regression"` for a '
                             "single-output regression head.")

    # ------------------------------------------------------------ assignment

    def __setattr__(self, name: str, value: Any) -> None:
        name = _ALIASES.get(name, name)
        if name == "num_labels":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TypeError(f"RemBertConfig.num_labels expects a non-negative int, got {value!r}")
            if self.id2label is None or len(self.id2label) != value:
                self.id2label = {i: f"LABEL_{i}" for i in range(value)}
            return
        _check_type(name, value)
        if name == "id2label" and value is not None:
            value = {int(k): v for k, v in value.items()}  # JSON keys are strings
            object.__setattr__(self, "label2id", {label: i for i, label in value.items()})
        elif name == "dtype" and value is not None and not isinstance(value, str):
            value = str(getattr(value, "name", value)).rsplit(".", 1)[-1]  # torch.float16 / jnp.float16 -> "float16"
        elif name == "_name_or_path":
            value = str(value)
        object.__setattr__(self, name, value)

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def name_or_path(self) -> str:
        return self._name_or_path

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    @property
    def torch_dtype(self):
        return self.dtype

    @property
    def extra(self) -> dict[str, Any]:
        """The attributes no field models (stray config.json keys, user additions)."""
        known = {*FIELD_NAMES, "label2id", "_name_or_path"}
        return {k: v for k, v in vars(self).items() if k not in known}

    def get_text_config(self, decoder: bool | None = None) -> RemBertConfig:
        return self  # a text-only model: its own text config, as transformers answers

    def update(self, config_dict: Mapping[str, Any]) -> None:
        for key, value in config_dict.items():
            setattr(self, key, value)

    def replace(self, **changes) -> RemBertConfig:
        """A copy with some fields changed (assigned in order; `id2label` wins over `num_labels`)."""
        new = copy.deepcopy(self)
        for name, value in sorted(changes.items(), key=lambda kv: kv[0] == "id2label"):
            setattr(new, name, value)
        return new

    def frozen(self) -> FrozenRemBertConfig:
        """The validated, hashable config the core computes with (ValueError naming bad fields)."""
        return freeze(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, RemBertConfig) and self.to_dict() == other.to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(vars(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    # --------------------------------------------------------------------- JSON

    @classmethod
    def from_dict(cls, config_dict: Mapping[str, Any], **kwargs) -> RemBertConfig:
        """`cls(**config_dict)`, then `kwargs` assigned (`return_unused_kwargs=True` as transformers)."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config = cls(**dict(config_dict))
        unused = {}
        for key, value in kwargs.items():
            if hasattr(config, key) or key == "num_labels":
                setattr(config, key, value)
            else:
                unused[key] = value
        return (config, unused) if return_unused else config

    def to_dict(self) -> dict[str, Any]:
        out = copy.deepcopy(vars(self))
        if isinstance(out.get("architectures"), tuple):
            out["architectures"] = list(out["architectures"])
        out["model_type"] = self.model_type
        return out

    def to_diff_dict(self) -> dict[str, Any]:
        """`to_dict()` less the generic fields left at transformers' defaults (and `_name_or_path`)."""
        out = {k: v for k, v in self.to_dict().items()
               if k not in _GENERIC_DEFAULTS or v != _GENERIC_DEFAULTS[k]}
        out.pop("_name_or_path", None)
        return out

    def to_json_string(self, use_diff: bool = True) -> str:
        return json.dumps(self.to_diff_dict() if use_diff else self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> str:
        text = self.to_json_string(use_diff)  # before touching the disk: an unserialisable value fails here
        from .atomic_write import write_text_atomic

        return write_text_atomic(json_file_path, text)  # never a half-written file

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike) -> RemBertConfig:
        try:
            with open(json_file, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {json_file}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{json_file} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{json_file} must hold a JSON object, got {type(data).__name__}")
        if data.get("model_type", "rembert") != "rembert":
            raise ValueError(f"{json_file} describes model_type={data['model_type']!r}, not 'rembert'")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:  # a field of the wrong type or value: say which file holds it
            raise ValueError(f"{json_file}: {e}") from None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> RemBertConfig:
        """Read a directory holding config.json, a JSON file, a preset (`tiny`, `preset:tiny`) or a Hub
        id (`google/rembert`), by the one location rule of `rembert_jax.hub`. transformers' loading
        keywords (`cache_dir`, `revision`, `token`, `local_files_only`, `subfolder`, `force_download`)
        steer where it comes from; every other keyword overrides a field (`num_labels=5`)."""
        from .hub import CONFIG, HubOptions, resolve

        options = HubOptions.pop_from(kwargs)  # consumed: never a field, never written to config.json
        resolved = resolve(pretrained_model_name_or_path, CONFIG, options)
        if resolved.kind == "preset":
            config = cls.from_preset(resolved.path)
        elif os.path.isdir(resolved.path):
            config = cls.from_json_file(os.path.join(resolved.path, CONFIG_NAME))
        else:
            config = cls.from_json_file(resolved.path)
        return config.replace(**kwargs) if kwargs else config

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """`save_directory/config.json` (transformers' diff form); returns its path."""
        if os.path.isfile(save_directory):
            raise NotADirectoryError(f"save_pretrained needs a directory, and {save_directory} is a file")
        return self.to_json_file(os.path.join(save_directory, CONFIG_NAME))

    @classmethod
    def from_preset(cls, name: str) -> RemBertConfig:
        """A preset shipped in `configs/`: `rembert` (full size) or `tiny` (tests, notebooks).

        Each has a matching tokenizer: `RemBertTokenizerFast.from_preset(name)`."""
        if name not in preset_names():
            raise ValueError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
        text = resources.files("rembert_jax.configs").joinpath(f"{name}.json").read_text("utf-8")
        return cls.from_dict(json.loads(text))


def freeze(config: RemBertConfig | FrozenRemBertConfig) -> FrozenRemBertConfig:
    """The one conversion from the API config to the core's: validated (ValueError naming the
    fields), hashable, every value copied (later assignments to `config` don't reach it)."""
    if isinstance(config, FrozenRemBertConfig):
        return config
    if not isinstance(config, RemBertConfig):
        raise TypeError(f"config must be a rembert_jax RemBertConfig, got {type(config).__name__} "
                        "(a transformers config converts with RemBertConfig.from_dict(config.to_dict()))")
    values = {name: copy.deepcopy(getattr(config, name)) for name in FIELD_NAMES}
    return FrozenRemBertConfig(**values, extra=FrozenMap(copy.deepcopy(config.extra)))
