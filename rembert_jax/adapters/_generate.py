"""`generate` for the causal-LM adapters of both families, delegating to `rembert_jax.heads.generate`:
the whole decoding loop runs under jit over the fixed-size KV cache. `generation_config` holds the
defaults of a call, as transformers' does (its unset fields fall back to the defaults below)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from . import _io as io
from ._compute import compute_config

# What an unset setting means (transformers' global defaults, except top_k: 0 = off here).
_DEFAULTS = {"max_length": 20, "do_sample": False, "temperature": 1.0, "top_k": 0, "top_p": 1.0}


@dataclasses.dataclass
class GenerationConfig:
    """The settings `generate` uses when a call does not give them (transformers' field names)."""

    max_length: int | None = None
    max_new_tokens: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    use_cache: bool = True
    output_attentions: bool = False
    output_hidden_states: bool = False

    @classmethod
    def from_model_config(cls, config) -> GenerationConfig:
        return cls(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
                   pad_token_id=config.pad_token_id, use_cache=config.use_cache,
                   output_attentions=config.output_attentions, output_hidden_states=config.output_hidden_states)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class GenerationMixin:
    @property
    def generation_config(self) -> GenerationConfig:
        """Defaults of `generate` (from the model config's token ids at first use; assignable)."""
        if getattr(self, "_generation_config", None) is None:
            self._generation_config = GenerationConfig.from_model_config(self.config)
        return self._generation_config

    @generation_config.setter
    def generation_config(self, value: GenerationConfig) -> None:
        self._generation_config = value

    def generate(self, input_ids, attention_mask=None, *, max_new_tokens: int | None = None,
                 max_length: int | None = None, do_sample: bool | None = None, temperature: float | None = None,
                 top_k: int | None = None, top_p: float | None = None, eos_token_id=None, pad_token_id=None,
                 seed: int = 0, token_type_ids=None, **unknown):
        """Continue left-padded prompts `input_ids` [B, S]: greedy or sampled (temperature, top-k,
        top-p), stopping at EOS. Give `max_new_tokens`, or `max_length` in total (default 20, as
        transformers). Unset settings come from `generation_config`. Returns [B, S + max_new_tokens]
        in the caller's framework; rows that stopped early are filled with `pad_token_id`. Unlike
        transformers, top_k defaults to 0 (off).
        """
        from rembert_jax.heads.generate import generate
        from rembert_jax.heads.task_model import TaskModel

        if unknown:
            raise TypeError(f"generate() got unexpected keyword argument(s) {sorted(unknown)}")
        given = {"max_new_tokens": max_new_tokens, "max_length": max_length, "do_sample": do_sample,
                 "temperature": temperature, "top_k": top_k, "top_p": top_p}
        settings = {name: value if value is not None else getattr(self.generation_config, name)
                    for name, value in given.items()}
        settings = {name: _DEFAULTS.get(name) if value is None else value for name, value in settings.items()}
        tensors = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        tensors = {k: v for k, v in tensors.items() if v is not None}
        framework = self._output_framework(tensors)
        arrays = {k: io.to_array(v, k) for k, v in tensors.items()}
        length = int(np.shape(arrays["input_ids"])[-1])
        if settings["max_new_tokens"] is None:
            total = settings["max_length"]
            if total <= length:
                raise ValueError(f"max_length={total} leaves no room after the prompt of length {length}; "
                                 "pass max_new_tokens")
            settings["max_new_tokens"] = total - length
        if eos_token_id is None:
            eos_token_id = self.generation_config.eos_token_id
        if eos_token_id is None:  # the model config's, read here: compute_config leaves it out
            eos_token_id = () if self.config.eos_token_id is None else self.config.eos_token_id
        if pad_token_id is None:
            pad_token_id = self.generation_config.pad_token_id
        # the config as the computation reads it: a change of id2label, say, keeps the compiled loop
        model = TaskModel(compute_config(self._frozen_config()), self.task, self.policy)
        tokens = generate(model, self.params, arrays["input_ids"],
                          arrays.get("attention_mask"), token_type_ids=arrays.get("token_type_ids"),
                          max_new_tokens=settings["max_new_tokens"], do_sample=settings["do_sample"],
                          temperature=settings["temperature"], top_k=settings["top_k"], top_p=settings["top_p"],
                          eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                          rng=jax.random.key(seed) if settings["do_sample"] else None)
        return io.from_jax(tokens, framework)
