"""`generate` for the causal-LM adapters of both families, delegating to `rembert_jax.heads.generate`:
the whole decoding loop runs under jit over the fixed-size KV cache."""

from __future__ import annotations

import jax
import numpy as np

from . import _adapter_io as io


class GenerationMixin:
    def generate(self, input_ids, attention_mask=None, *, max_new_tokens: int | None = None,
                 max_length: int | None = None, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, eos_token_id=None, pad_token_id=None, seed: int = 0,
                 token_type_ids=None, **unknown):
        """Continue left-padded prompts `input_ids` [B, S]: greedy or sampled (temperature, top-k,
        top-p), stopping at EOS. Give `max_new_tokens`, or `max_length` in total (default 20, as
        transformers). Returns [B, S + max_new_tokens] in the caller's framework; rows that stopped
        early are filled with `pad_token_id`. Unlike transformers, top_k defaults to 0 (off).
        """
        from rembert_jax.heads.generate import generate
        from rembert_jax.heads.task_model import TaskModel

        if unknown:
            raise TypeError(f"generate() got unexpected keyword argument(s) {sorted(unknown)}")
        tensors = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        tensors = {k: v for k, v in tensors.items() if v is not None}
        framework = io.caller_framework(tensors)
        arrays = {k: io.to_array(v, k) for k, v in tensors.items()}
        length = int(np.shape(arrays["input_ids"])[-1])
        if max_new_tokens is None:
            total = 20 if max_length is None else max_length
            if total <= length:
                raise ValueError(f"max_length={total} leaves no room after the prompt of length {length}; "
                                 "pass max_new_tokens")
            max_new_tokens = total - length
        tokens = generate(TaskModel(self.config, self.task, self.policy), self.params, arrays["input_ids"],
                          arrays.get("attention_mask"), token_type_ids=arrays.get("token_type_ids"),
                          max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature, top_k=top_k,
                          top_p=top_p, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                          rng=jax.random.key(seed) if do_sample else None)
        return io.from_jax(tokens, framework)
