"""`generate`: autoregressive decoding for the causal LM task model, the whole loop under jit.

    tokens = generate(model, params, input_ids, attention_mask, max_new_tokens=20)          # greedy
    tokens = generate(model, params, ids, mask, max_new_tokens=20, do_sample=True, top_p=0.9,
                      rng=jax.random.key(0))                                                  # sampling

What it reproduces from transformers' `generate` for `RemBertForCausalLM`:
  - prompts are left padded (tokenizer `padding_side="left"`); position ids count only attended
    tokens (`cumsum(attention_mask) - 1`, padding slots get 1), as transformers derives them;
  - the prompt is run once ("prefill") into a fixed-size KV cache of `S + max_new_tokens` slots
    (`rembert_jax.init_cache`), then one token per step; only the last position goes through the
    LM head (transformers' `logits_to_keep=1`);
  - greedy (`do_sample=False`) or sampling with temperature, top-k and top-p (see `sampling`);
    these three are traced values: a new setting runs the compiled program again, only new
    shapes (batch, prompt length, max_new_tokens) or a new do_sample / EOS / pad choice recompile;
  - a sequence that emits an EOS token is finished: later slots get `pad_token_id`; the loop
    (`lax.while_loop`) stops when every sequence is finished or after `max_new_tokens`.
The output always has the fixed shape [B, S + max_new_tokens] (transformers returns a shorter
tensor when every row stopped early; the extra columns here hold `pad_token_id`).
`use_cache=False` recomputes the whole sequence each step (same tokens; a reference path).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rembert_jax.compiler_options import jit
from rembert_jax.tasks import BASE
from rembert_jax.validation import validate_inputs

from .compose import check_decoding, forward
from .sampling import next_token
from .task_model import TaskModel


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What the compiled program depends on (static): shapes and program structure. The sampling
    values (temperature, top-k, top-p) are traced arguments, so changing them does not recompile."""

    max_new_tokens: int
    do_sample: bool
    eos_token_ids: tuple[int, ...]
    pad_token_id: int
    use_cache: bool
    return_logits: bool


def generate(model: TaskModel, params: dict, input_ids, attention_mask=None, *, max_new_tokens: int,
             do_sample: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             eos_token_id: int | Sequence[int] | None = None, pad_token_id: int | None = None,
             rng: jax.Array | None = None, token_type_ids=None, encoder_hidden_states=None,
             encoder_attention_mask=None, use_cache: bool = True,
             return_logits: bool = False) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Continue each prompt of `input_ids` [B, S] by up to `max_new_tokens` tokens.

    Args:
      model: a `TaskModel(config, "causal_lm")` with `config.is_decoder=True`.
      attention_mask: [B, S], 1 for prompt tokens and 0 for (left) padding; default as transformers
        infers it: `input_ids != pad_token_id` when the pad id occurs (and is no EOS), else all ones.
      eos_token_id: id(s) that finish a sequence; None: `config.eos_token_id`; () disables stopping.
      pad_token_id: written after a sequence finished; None: `config.pad_token_id` (else the first EOS).
      rng: required for `do_sample=True` (step t uses `fold_in(rng, t)`).
      token_type_ids: [B, S]; new tokens repeat each row's last type, as transformers does.
      encoder_hidden_states, encoder_attention_mask: [B, Senc, H] and [B, Senc] for a decoder with
        cross-attention (`config.add_cross_attention`); the cross keys/values are computed once, at
        the prefill, and kept in the cache.
      return_logits: also return the raw (unwarped) next-token logits [B, max_new_tokens, V] float32
        (transformers' `output_logits`); steps after an early stop are zeros.

    Returns:
      tokens [B, S + max_new_tokens] int32 (prompt followed by the generated tokens), and the
      logits when `return_logits`.
    """
    cross = {"encoder_hidden_states": encoder_hidden_states, "encoder_attention_mask": encoder_attention_mask}
    settings, sampling = _check_arguments(model, input_ids, attention_mask, token_type_ids, cross, max_new_tokens=max_new_tokens,
                                do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
                                eos_token_id=eos_token_id, pad_token_id=pad_token_id, rng=rng,
                                use_cache=use_cache, return_logits=return_logits)
    mask = _prompt_mask(np.asarray(input_ids), attention_mask, settings)
    input_ids = jnp.asarray(input_ids, jnp.int32)
    types = None if token_type_ids is None else jnp.asarray(token_type_ids, jnp.int32)
    rng = jax.random.key(0) if rng is None else rng  # unused by greedy decoding
    cross = {k: None if v is None else jnp.asarray(v) for k, v in cross.items()}
    tokens, logits = _generate(model, settings, params, input_ids, mask, types, cross, rng, sampling)
    return (tokens, logits) if return_logits else tokens


def _check_arguments(model, input_ids, attention_mask, token_type_ids, cross, *, max_new_tokens, do_sample, temperature,
                     top_k, top_p, eos_token_id, pad_token_id, rng, use_cache, return_logits) -> tuple[_Settings, dict]:
    """Every argument checked on the host, with a message saying what is allowed: the static
    settings and the traced sampling values (0-d arrays)."""
    is_model = isinstance(model, TaskModel)  # anything else is refused like a model that cannot generate
    config = model.config if is_model else None
    check_decoding(model.task if is_model else BASE.name, config, caller="generate", generate=True)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    batch, length = validate_inputs({k: v for k, v in inputs.items() if v is not None}, config, **cross)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    P = config.max_position_embeddings
    if length + max_new_tokens > P:
        raise ValueError(f"prompt length {length} + max_new_tokens {max_new_tokens} exceeds "
                         f"max_position_embeddings={P}; shorten the prompt or generate fewer tokens")
    if do_sample and rng is None:
        raise ValueError("do_sample=True needs an rng, e.g. rng=jax.random.key(0)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {top_k!r}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (1 disables it), got {top_p!r}")

    V = config.vocab_size
    if eos_token_id is None:
        eos_token_id = config.eos_token_id
    single = isinstance(eos_token_id, (int, np.integer))  # a numpy int too (e.g. read from an array)
    eos = () if eos_token_id is None else (eos_token_id,) if single else tuple(eos_token_id)
    if pad_token_id is None:
        pad_token_id = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    for name, ids in (("eos_token_id", eos), ("pad_token_id", (pad_token_id,))):
        for i in ids:
            if not 0 <= int(i) < V:
                raise ValueError(f"{name} must be in [0, vocab_size={V}), got {i}")
    settings = _Settings(max_new_tokens, bool(do_sample), tuple(int(i) for i in eos), int(pad_token_id),
                         bool(use_cache), bool(return_logits))
    sampling = {"temperature": jnp.asarray(temperature, jnp.float32), "top_k": jnp.asarray(top_k, jnp.int32),
                "top_p": jnp.asarray(top_p, jnp.float32)}
    return settings, sampling


def _prompt_mask(input_ids: np.ndarray, attention_mask, settings: _Settings) -> jax.Array:
    """The given mask, or transformers' inferred one: `input_ids != pad` when the pad id occurs in
    the prompts and is not an EOS id, else all ones. It must be left padding."""
    inferred = attention_mask is None
    if inferred:
        pad = settings.pad_token_id
        infer = bool((input_ids == pad).any()) and pad not in settings.eos_token_ids
        attention_mask = (input_ids != pad) if infer else np.ones_like(input_ids)
    mask = np.asarray(attention_mask).astype(np.int32)
    if (np.diff(mask, axis=-1) < 0).any():  # right padding would leave pad slots before the new tokens
        source = f" (inferred from pad_token_id={settings.pad_token_id})" if inferred else ""
        raise ValueError(f"generate needs left-padded prompts: attention_mask{source} has zeros after a token; "
                         "use a tokenizer with padding_side='left'")
    return jnp.asarray(mask)


@partial(jit, static_argnames=("model", "settings"))
def _generate(model: TaskModel, settings: _Settings, params, prompt, prompt_mask, prompt_types, cross, rng,
              sampling):
    from rembert_jax import init_cache

    config, policy, N = model.config, model.policy, settings.max_new_tokens
    B, S = prompt.shape
    T = S + N
    tokens = jnp.concatenate([prompt, jnp.full((B, N), settings.pad_token_id, jnp.int32)], axis=1)  # [B, T]
    mask = jnp.concatenate([prompt_mask, jnp.zeros((B, N), jnp.int32)], axis=1)  # [B, T]; 1 once written
    types = None if prompt_types is None else jnp.concatenate(
        [prompt_types, jnp.repeat(prompt_types[:, -1:], N, axis=1)], axis=1)  # [B, T]

    def positions_of(m):  # transformers: cumsum(mask) - 1, padding slots get 1
        return jnp.where(m == 0, 1, jnp.cumsum(m, axis=-1) - 1)

    def logits_of(inputs, cache=None, encoder_states=None, **keep):  # [B, 1, H] -> [B, V]: one position only
        inputs = {k: v for k, v in inputs.items() if v is not None}
        cross_inputs = {"encoder_hidden_states": encoder_states,
                        "encoder_attention_mask": cross["encoder_attention_mask"]}
        out = forward(model.task, config, policy, params, inputs, cache=cache, cross=cross_inputs, **keep)
        return out.get("cache"), out["logits"][:, 0]

    def uncached_logits(tokens, mask, last):  # recompute all T slots; unwritten ones are masked
        return logits_of({"input_ids": tokens, "attention_mask": mask, "position_ids": positions_of(mask),
                          "token_type_ids": types}, encoder_states=cross["encoder_hidden_states"], keep_at=last)[1]

    # Prefill: the prompt's keys/values into a cache of T slots, logits of its last position.
    if settings.use_cache:
        cache, logits = logits_of({"input_ids": prompt, "attention_mask": mask,
                                   "position_ids": positions_of(prompt_mask), "token_type_ids": prompt_types},
                                  cache=init_cache(config, B, T, dtype=policy.compute_dtype),
                                  encoder_states=cross["encoder_hidden_states"],  # cross keys/values cached here
                                  logits_to_keep=1)
    else:
        cache, logits = None, uncached_logits(tokens, mask, S - 1)

    eos = jnp.asarray(settings.eos_token_ids, jnp.int32)
    next_position = jnp.sum(prompt_mask, axis=-1, keepdims=True)  # [B, 1]: position id of the first new token
    all_logits = jnp.zeros((B, N if settings.return_logits else 0, config.vocab_size), jnp.float32)

    def choose(step, logits, tokens, mask, unfinished, all_logits):
        """Pick the token of slot S + step from `logits` [B, V] and write it."""
        token = next_token(logits, jax.random.fold_in(rng, step), do_sample=settings.do_sample, **sampling)
        token = jnp.where(unfinished, token, settings.pad_token_id)  # [B]
        tokens = jax.lax.dynamic_update_slice_in_dim(tokens, token[:, None], S + step, axis=1)
        mask = jax.lax.dynamic_update_slice_in_dim(mask, jnp.ones((B, 1), jnp.int32), S + step, axis=1)
        if settings.eos_token_ids:
            unfinished = unfinished & ~jnp.isin(token, eos)
        if settings.return_logits:
            all_logits = jax.lax.dynamic_update_slice_in_dim(all_logits, logits[:, None], step, axis=1)
        return tokens, mask, unfinished, all_logits

    tokens, mask, unfinished, all_logits = choose(0, logits, tokens, mask, jnp.ones((B,), bool), all_logits)

    def keep_going(state):
        step, _, _, unfinished, _, _ = state
        return (step < N) & jnp.any(unfinished)

    def step_fn(state):
        step, tokens, mask, unfinished, cache, all_logits = state
        last = S + step - 1  # the slot written by the previous step
        if settings.use_cache:
            token = jax.lax.dynamic_slice_in_dim(tokens, last, 1, axis=1)  # [B, 1]
            step_types = None if types is None else jax.lax.dynamic_slice_in_dim(types, last, 1, axis=1)
            cache, logits = logits_of({"input_ids": token, "attention_mask": mask,
                                       "position_ids": next_position + step - 1, "token_type_ids": step_types},
                                      cache=cache)
        else:
            logits = uncached_logits(tokens, mask, last)
        tokens, mask, unfinished, all_logits = choose(step, logits, tokens, mask, unfinished, all_logits)
        return step + 1, tokens, mask, unfinished, cache, all_logits

    state: tuple[Any, ...] = (jnp.asarray(1, jnp.int32), tokens, mask, unfinished, cache, all_logits)
    _, tokens, _, _, _, all_logits = jax.lax.while_loop(keep_going, step_fn, state)
    return tokens, all_logits
