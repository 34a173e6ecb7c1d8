"""What every adapter class shares: construction, `from_pretrained` / `save_pretrained`, dropout
mode, and one call path (host-side checks -> the cached jitted forward -> the caller's framework).

A subclass states its transformers twin: `task`, `_ARGS` (the call's parameter names in
transformers' positional order), `_output_class`, `_loss_style` ("pytorch" or "tf") and
`_weights_format` (the format `save_pretrained` writes). The PyTorch and TF families live in
`_torch_api.py` and `_tf_api.py`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import numpy as np

from rembert_jax import DTypePolicy, FrozenRemBertConfig, RemBertConfig
from rembert_jax.config import freeze
from rembert_jax.heads.compose import check_decoding
from rembert_jax.tasks import BASE, LABEL_KEYS, get_task, task_of_architecture

from . import _checkpoints as checkpoints
from . import _io as io
from ._compute import compiled_forward, compute_config
from ._device import dtype_name
from ._validation import validate_call

logger = logging.getLogger("rembert_jax.convert")

TENSOR_ARGS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds",
               "encoder_hidden_states", "encoder_attention_mask", *LABEL_KEYS)
# transformers.from_pretrained arguments that only steer its own loader (accepted, no effect here).
_LOADER_ONLY_KWARGS = ("from_pt", "from_tf", "from_flax", "use_safetensors", "attn_implementation",
                       "low_cpu_mem_usage", "device_map")
_FLAGS = ("output_attentions", "output_hidden_states", "return_dict", "use_cache", "logits_to_keep")
# Config fields that size the weights: they cannot change under a built model.
_WEIGHT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "input_embedding_size", "output_embedding_size",
                  "intermediate_size", "max_position_embeddings", "type_vocab_size", "add_cross_attention")


def as_config(config) -> RemBertConfig:
    """Our config from ours (the same object: the model reads it live), a frozen one, a
    transformers `RemBertConfig`, a dict, or a directory / JSON path."""
    if isinstance(config, RemBertConfig):
        return config
    if isinstance(config, FrozenRemBertConfig):
        return config.thaw()
    if isinstance(config, Mapping):
        return RemBertConfig.from_dict(config)
    if isinstance(config, str | os.PathLike):
        return RemBertConfig.from_pretrained(config)
    if hasattr(config, "to_dict"):  # transformers.RemBertConfig
        return RemBertConfig.from_dict(config.to_dict())
    raise TypeError(f"config must be a RemBertConfig (ours or transformers'), a dict or a path, "
                    f"got {type(config).__name__}")


class RemBertAdapter:
    """Base of the transformers-style classes: `config`, `params` (a plain pytree) and `policy`."""

    task: ClassVar[str]
    _ARGS: ClassVar[tuple[str, ...]]
    _output_class: ClassVar[type]
    _loss_style: ClassVar[str]
    _weights_format: ClassVar[str]

    main_input_name: ClassVar[str] = "input_ids"

    def __init_subclass__(cls, **kwargs):
        """A class named after a transformers class (`RemBertForMaskedLM`, `TFRemBertModel`, ...)
        gets that class's task from the registry (`rembert_jax.tasks`); other subclasses inherit it."""
        super().__init_subclass__(**kwargs)
        task = task_of_architecture(cls.__name__)
        if task is not None:
            cls.task = task

    def __init__(self, config, params: Any = None, *, policy: DTypePolicy | str = "fp32", seed: int = 0,
                 add_pooling_layer: bool | None = None):
        """`Class(config)`: random weights initialised as transformers does (or the given `params`).

        `config` is kept as given (transformers' manner: `model.config is config`) and read afresh on
        every call; it is validated here, as transformers validates when a model is built.
        """
        self.config = as_config(config)
        self._built = freeze(self.config)  # ValueError naming the fields, before any weight exists
        spec = get_task(self.task, allow_base=True)
        if spec.language_model and not spec.decoder and self.config.is_decoder:  # transformers' warnings
            logger.warning(f"If you want to use `{spec.architecture}` make sure `config.is_decoder=False` for "
                           "bi-directional self-attention.")
        if spec.generates and not self.config.is_decoder:
            logger.warning(f"If you want to use `{spec.architecture}` as a standalone, add `is_decoder=True.`")
        self.policy = DTypePolicy.from_name(policy)
        self._rng = jax.random.key(seed)
        if params is None:
            params = self._init_params(jax.random.fold_in(self._rng, 1), add_pooling_layer)
        self.params = params
        self.training = self._trains_after_construction

    _trains_after_construction: ClassVar[bool] = False

    @property
    def config(self) -> RemBertConfig:
        """The live, mutable config: an assignment takes effect on the next call (a program is
        recompiled only when a field the computation reads changed)."""
        return self._config

    @config.setter
    def config(self, value) -> None:
        self._config = as_config(value)

    @classmethod
    def can_generate(cls) -> bool:
        """True for the causal LM (it has `generate`), as transformers answers."""
        return callable(getattr(cls, "generate", None))

    def _init_params(self, rng, add_pooling_layer: bool | None):
        pooler = True if add_pooling_layer is None else bool(add_pooling_layer)
        return _initializer(self.task, self._built, self.policy, pooler)(rng)

    def _frozen_config(self) -> FrozenRemBertConfig:
        """`self.config` as the core reads it, checked against the weights it has to fit."""
        config = freeze(self.config)
        sized = get_task(self.task, allow_base=True).sized_by_num_labels
        names = _WEIGHT_FIELDS + (("num_labels",) if sized else ())
        for name in names:
            now, built = getattr(config, name), getattr(self._built, name)
            if now != built:
                raise ValueError(
                    f"{type(self).__name__}: config.{name} is {now!r}, but this model's weights were built for "
                    f"{name}={built!r}; a field that sizes the weights cannot change under a built model: build a "
                    f"new one ({type(self).__name__}(config) or from_pretrained(..., {name}={now!r}))")
        return config

    # ------------------------------------------------------------------------------- checkpoints

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *, policy: DTypePolicy | str | None = None,
                        seed: int = 0, **kwargs):
        """Load a local directory in any format the converters read (auto-detected) or a Hub id
        (`"google/rembert"`, fetched into the Hugging Face cache), as transformers does: its loading
        keywords (`cache_dir`, `revision`, `token`, `local_files_only`, `subfolder`,
        `force_download`) say where from, `dtype=` / `torch_dtype=` ("bfloat16", "float16",
        "float32", a torch / numpy dtype, or "auto" for the checkpoint's) sets the compute dtype, and
        the other keywords override config fields (`num_labels=5`, `is_decoder=True`, ...). A
        checkpoint without this class's head (e.g. google/rembert into a classifier) gets a fresh
        head, logged as a warning.
        """
        from rembert_jax.hub import MODEL, MODEL_KERAS_FIRST, HubOptions, resolve_path

        options = HubOptions.pop_from(kwargs)  # consumed here: never a config field
        dtype = _pop_dtype(kwargs)
        for name in _LOADER_ONLY_KWARGS:  # transformers' loader switches: the format is detected here
            kwargs.pop(name, None)
        keras_first = cls._weights_format == checkpoints.KERAS_H5
        path = resolve_path(pretrained_model_name_or_path, MODEL_KERAS_FIRST if keras_first else MODEL, options)
        fmt = checkpoints.detect_format(path, prefer=checkpoints.KERAS_H5 if keras_first else checkpoints.PYTORCH)
        add_pooling_layer = kwargs.pop("add_pooling_layer", True) if cls.task == BASE.name else None
        config, params = checkpoints.load(path, cls.task, kwargs, fmt, rng=seed)
        if cls.task == BASE.name:
            params = checkpoints.match_pooler(params, config, add_pooling_layer, source=path, rng=seed)
        model = cls(config, params, policy=_loading_policy(policy, dtype, config, params), seed=seed)
        model.training = False  # transformers returns loaded models in eval mode
        return model

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """config.json + weights that transformers' class of the same name loads unchanged."""
        checkpoints.save(os.fspath(save_directory), self.task, self.config, self.params, self._weights_format)

    # ------------------------------------------------------------------------------------ call

    def _bind(self, args: tuple, kwargs: dict) -> dict[str, Any]:
        """Positional and keyword arguments by name, in transformers' order; TypeError otherwise."""
        if len(args) > len(self._ARGS):
            raise TypeError(f"{type(self).__name__}() takes at most {len(self._ARGS)} positional arguments "
                            f"({', '.join(self._ARGS)}), got {len(args)}")
        named = dict(zip(self._ARGS, args, strict=False))  # fewer args than names is fine
        for name, value in kwargs.items():
            if name in named:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
            named[name] = value
        if named.get("head_mask") is not None:
            raise NotImplementedError("head_mask is not supported (transformers 5 removed it and the Keras "
                                      "RemBERT classes never implemented it); drop the argument")
        named.pop("head_mask", None)
        unknown = sorted(set(named) - set(self._ARGS) - {"past_key_values", "cache", "params"})
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {unknown}; "
                            f"it takes {', '.join(self._ARGS)}")
        return named

    def _run(self, named: dict[str, Any], *, train: bool):
        """The forward pass of one bound call, answered in the caller's framework."""
        config = self._frozen_config()
        tensors = {k: named[k] for k in TENSOR_ARGS if named.get(k) is not None}
        framework = self._output_framework(tensors)
        batch = {k: io.to_array(v, k) for k, v in tensors.items()}
        flags = {k: named.get(k) for k in _FLAGS}
        output_attentions = _flag(flags["output_attentions"], config.output_attentions)
        output_hidden_states = _flag(flags["output_hidden_states"], config.output_hidden_states)
        return_dict = _flag(flags["return_dict"], config.return_dict)
        logits_to_keep = int(flags["logits_to_keep"] or 0)

        cache = self._cache_argument(named)
        use_cache = (get_task(self.task, allow_base=True).decoder and config.is_decoder
                     and _flag(flags["use_cache"], config.use_cache))
        past = validate_call(self.task, batch, config, cache=cache, loss_style=self._loss_style,
                             logits_to_keep=logits_to_keep)
        if cache is None and use_cache:
            # Room for every position the model can embed, so the returned cache can be extended
            # by later calls (transformers' cache grows; ours is fixed-size for jit).
            cache = self.init_cache(int(np.shape(batch.get("input_ids", batch.get("inputs_embeds")))[0]))
        if cache is not None:
            batch["cache"] = cache

        forward = compiled_forward(self.task, compute_config(config), self.policy, train=train,
                                   output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                   loss_style=self._loss_style, logits_to_keep=logits_to_keep)
        rng = None
        if train:
            self._rng, rng = jax.random.split(self._rng)
        params = named.get("params")  # transformers' Flax habit: other weights for this call only
        out = dict(forward(self.params if params is None else params, batch, rng))
        self._after_call(batch, config)

        new_cache = out.pop("cache", None)
        if cache is not None and out.get("attentions") is not None:
            # The fixed-size cache has max_length key slots; transformers' maps cover the PL + S
            # positions seen so far (the later slots are never attended: probability 0).
            keys = past + self._length(batch)
            out["attentions"] = tuple(a[..., :keys] for a in out["attentions"])
        out = io.from_jax(out, framework)
        if use_cache:
            out[self._cache_field] = new_cache
        return self._pack(out, return_dict)

    _cache_field: ClassVar[str] = "cache"

    def _output_framework(self, tensors: Mapping[str, Any]) -> str:
        """The framework outputs come back in (the TF family: always TensorFlow)."""
        return io.caller_framework(tensors)

    def _cache_argument(self, named: dict[str, Any]):
        cache, past = named.get("cache"), named.get("past_key_values")
        if cache is not None and past is not None:
            raise TypeError("pass the cache once: cache= or its older name past_key_values=, not both")
        cache = cache if cache is not None else past
        check_decoding(self.task, self.config, caller=type(self).__name__, cache=cache is not None)
        if cache is not None and not isinstance(cache, Mapping):
            raise ValueError("cache must be the `cache` returned by a previous call (or model.init_cache(...)); "
                             f"got {type(cache).__name__}")
        return cache

    @staticmethod
    def _length(batch) -> int:
        x = batch.get("input_ids", batch.get("inputs_embeds"))
        return int(np.shape(x)[1])

    def _after_call(self, batch: Mapping[str, Any], config: FrozenRemBertConfig) -> None:
        """Hook: the PyTorch sequence classifier records the resolved problem_type here."""

    def _pack(self, out: dict[str, Any], return_dict: bool):
        names = [f for f in self._output_class.__dataclass_fields__]
        result = self._output_class(**{k: out.get(k) for k in names})
        if return_dict:
            return result
        values = result.to_tuple()
        if self.task == BASE.name and result.pooler_output is None:
            # transformers keeps pooler_output's slot in the tuple even when there is no pooler.
            values = values[:1] + (None,) + values[1:]
        return values

    def init_cache(self, batch_size: int, max_length: int | None = None):
        """An empty KV cache for `batch_size` sequences (default length: max_position_embeddings)."""
        from rembert_jax import init_cache

        return init_cache(self.config, batch_size, max_length or self.config.max_position_embeddings,
                          dtype=self.policy.compute_dtype)

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """The number of weights, as transformers counts them (every weight is trainable here;
        `exclude_embeddings` leaves out the word, position and token-type tables)."""
        total = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(self.params))
        if exclude_embeddings:
            encoder = self.params if self.task == BASE.name else self.params["encoder"]
            tables = encoder["embeddings"]
            total -= sum(int(np.prod(tables[name].shape)) for name in ("word", "position", "token_type"))
        return total

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(task={self.task!r}, parameters={self.num_parameters():,}, "
                f"policy={self.policy.compute_dtype.name}, training={self.training})")


@functools.lru_cache(maxsize=64)
def _initializer(task: str, config: FrozenRemBertConfig, policy: DTypePolicy, pooler: bool):
    """One jitted initialiser per model kind: a single compiled program instead of one dispatch
    (and compilation) per parameter, reused by every model built from the same config."""
    if task == BASE.name:
        from rembert_jax import init_params

        return jax.jit(lambda rng: init_params(config, rng, add_pooling_layer=pooler, dtype=policy.param_dtype))
    from rembert_jax.heads.task_model import TaskModel

    return TaskModel(config, task, policy).init  # jitted already (heads.task_model._init)


def _pop_dtype(kwargs: dict):
    """transformers' `dtype=` (or its older name `torch_dtype=`), taken out of `kwargs`."""
    dtype, torch_dtype = kwargs.pop("dtype", None), kwargs.pop("torch_dtype", None)
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError(f"pass the dtype once: dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree")
    return dtype if dtype is not None else torch_dtype


def _loading_policy(policy, dtype, config: RemBertConfig, params) -> DTypePolicy:
    """The dtype policy of a loaded model: `policy=`, else `dtype=` ("auto": the checkpoint's own dtype,
    from its config's `dtype`, else its stored weights), else fp32. Weights stay float32 masters;
    the dtype is the compute dtype (matmuls and activations), as `DTypePolicy.from_name` says."""
    if dtype is None:
        return DTypePolicy.from_name(policy or "fp32")
    name = dtype_name(dtype)
    if name == "auto":
        leaves = [x for x in jax.tree_util.tree_leaves(params) if jax.numpy.issubdtype(x.dtype, jax.numpy.floating)]
        name = config.dtype or (np.dtype(leaves[0].dtype).name if leaves else "float32")
    try:
        chosen = DTypePolicy.from_name(name)
    except ValueError:
        raise ValueError(f"dtype {dtype!r} is not supported; give 'float32', 'bfloat16', 'float16' or 'auto'") from None
    if policy is not None and DTypePolicy.from_name(policy) != chosen:
        raise ValueError(f"policy={policy!r} and dtype={dtype!r} disagree; pass one of them")
    return chosen


def _flag(value, default) -> bool:
    return bool(default if value is None else value)


def call_signature(names: tuple[str, ...], **extra) -> inspect.Signature:
    """`(self, name=None, ..., **extra defaults)`, every argument positional or by name: the
    signature transformers gives a model's `forward` (PyTorch) or `call` (Keras)."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("self", positional)]
    params += [inspect.Parameter(n, positional, default=None) for n in names]
    params += [inspect.Parameter(n, positional, default=value) for n, value in extra.items()]
    return inspect.Signature(params)
